#!/usr/bin/env bash
# End-to-end check of a GPU install: 2 GRPO steps of a small Qwen3-VL on one GPU, on the demo data.
#
#   bash scripts/demo.sh                 # once: builds outputs/demo/mix from the bundled clips
#   bash train/smoke_1gpu.sh             # ~10 min on one 80 GB GPU, downloads Qwen3-VL-2B-Instruct
#   MODEL_PATH=/models/Qwen2.5-VL-3B-Instruct bash train/smoke_1gpu.sh
#   bash train/smoke_1gpu.sh --dry-run   # validates this configuration on any machine
#
# It uses train/train.sh with one GPU, small batches and short sequences; success means rollout
# (vLLM), the reward, the actor update and checkpointing all ran. Logs go to the console.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

export MODEL_PATH="${MODEL_PATH:-Qwen/Qwen3-VL-2B-Instruct}"
export DATA_DIR="${DATA_DIR:-$REPO/outputs/demo/mix}"
export NNODES=1 GPUS_PER_NODE="${GPUS_PER_NODE:-1}"
export TRAIN_BATCH_SIZE="${TRAIN_BATCH_SIZE:-8}" PPO_MINI_BATCH_SIZE="${PPO_MINI_BATCH_SIZE:-8}"
export ROLLOUT_N="${ROLLOUT_N:-4}" MICRO_BATCH_SIZE_PER_GPU="${MICRO_BATCH_SIZE_PER_GPU:-2}"
export MAX_PROMPT_LENGTH="${MAX_PROMPT_LENGTH:-4096}" MAX_RESPONSE_LENGTH="${MAX_RESPONSE_LENGTH:-128}"
export GPU_MEMORY_UTILIZATION="${GPU_MEMORY_UTILIZATION:-0.4}" PARAM_OFFLOAD="${PARAM_OFFLOAD:-True}"
export EXPERIMENT_NAME="${EXPERIMENT_NAME:-smoke-1gpu}" CHECKPOINT_DIR="${CHECKPOINT_DIR:-$REPO/outputs/smoke_checkpoints}"

dry=()
if [ "${1:-}" = "--dry-run" ]; then
    dry=(--dry-run)
    shift
fi
exec bash "$REPO/train/train.sh" "${dry[@]}" trainer.total_training_steps=2 trainer.save_freq=2 \
    trainer.test_freq=-1 trainer.val_before_train=False data.dataloader_num_workers=2 "$@"
