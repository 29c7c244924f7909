#!/usr/bin/env bash
# GRPO training of a Qwen-VL model on VideoSSR data with verl 0.9.1: the paper's recipe.
#
#   bash train/train.sh [--dry-run] [verl overrides ...]
#
# Examples:
#   MODEL_PATH=/models/Qwen3-VL-8B-Instruct DATA_DIR=/data/videossr30k bash train/train.sh
#   MODEL_PATH=/models/Qwen2.5-VL-7B-Instruct bash train/train.sh          # family guessed: patch 14
#   REWARD_MODE=strict EXPERIMENT_NAME=strict-ablation bash train/train.sh
#   NNODES=4 bash train/train.sh        # on the head node of a running Ray cluster (see README)
#   bash train/train.sh trainer.total_epochs=2 actor_rollout_ref.actor.optim.lr=5e-7   # extra verl overrides
#   bash train/train.sh --dry-run       # compose + validate with verl's own config system, no GPU needed
#
# Every setting below is an environment variable with the paper's value as default (SPEC §6):
# Qwen3-VL-8B-Instruct, plain GRPO, one epoch, lr 1e-6 constant, global batch 64 = mini-batch 64,
# 8 rollouts per prompt, low-variance KL loss 1e-3, no KL in the reward, no entropy bonus, prompts
# up to 8,192 tokens, responses up to 2,048, vLLM rollout, 8 GPUs.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

DRY_RUN=0
if [ "${1:-}" = "--dry-run" ]; then
    DRY_RUN=1
    shift
fi

# ---------------------------------------------------------------- what to train, on what
MODEL_PATH="${MODEL_PATH:-Qwen/Qwen3-VL-8B-Instruct}"
MODEL_FAMILY="${MODEL_FAMILY:-}"            # qwen3_vl | qwen2_5_vl; guessed from MODEL_PATH if empty
DATA_DIR="${DATA_DIR:-$REPO/outputs/videossr30k}"
TRAIN_FILES="${TRAIN_FILES:-channelswap mirror zoomout rotate180 jigsaw6 counting}"  # build_mix.py's files
VAL_FILE="${VAL_FILE:-$DATA_DIR/val.parquet}"
ONLINE="${ONLINE:-0}"                       # 1: pretext tasks generated in the dataloader from FRAMES_DIRS
FRAMES_DIRS="${FRAMES_DIRS:-}"              # ONLINE=1: frames folders (sample_frames.py), space separated
ONLINE_MIX="${ONLINE_MIX:-}"                # ONLINE=1: e.g. "grounding/ChannelSwap=1;jigsaw/6=4;counting/easy=2"
ONLINE_CACHE_DIR="${ONLINE_CACHE_DIR:-}"    # ONLINE=1: where changed frames go (shared by all nodes)
SEED="${SEED:-0}"

# ---------------------------------------------------------------- cluster
NNODES="${NNODES:-1}"
GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
ROLLOUT_ENGINE="${ROLLOUT_ENGINE:-vllm}"   # vllm | sglang
ROLLOUT_TP="${ROLLOUT_TP:-1}"
GPU_MEMORY_UTILIZATION="${GPU_MEMORY_UTILIZATION:-0.6}"
MICRO_BATCH_SIZE_PER_GPU="${MICRO_BATCH_SIZE_PER_GPU:-8}"
PARAM_OFFLOAD="${PARAM_OFFLOAD:-False}"

# ---------------------------------------------------------------- recipe
TRAIN_BATCH_SIZE="${TRAIN_BATCH_SIZE:-64}"
PPO_MINI_BATCH_SIZE="${PPO_MINI_BATCH_SIZE:-64}"
ROLLOUT_N="${ROLLOUT_N:-8}"
LR="${LR:-1e-6}"
KL_LOSS_COEF="${KL_LOSS_COEF:-0.001}"
MAX_PROMPT_LENGTH="${MAX_PROMPT_LENGTH:-8192}"
MAX_RESPONSE_LENGTH="${MAX_RESPONSE_LENGTH:-2048}"
TOTAL_EPOCHS="${TOTAL_EPOCHS:-1}"
REWARD_MODE="${REWARD_MODE:-smooth}"       # smooth (the paper) | strict (the paper's ablation)
ANSWER_FORMAT="${ANSWER_FORMAT:-direct}"   # direct (the paper) | answer_tags | think
FORMAT_WEIGHT="${FORMAT_WEIGHT:-0.0}"

# ---------------------------------------------------------------- bookkeeping
PROJECT_NAME="${PROJECT_NAME:-VideoSSR}"
EXPERIMENT_NAME="${EXPERIMENT_NAME:-videossr30k-grpo}"
CHECKPOINT_DIR="${CHECKPOINT_DIR:-$REPO/outputs/checkpoints}"
LOGGER="${LOGGER:-[\"console\"]}"          # e.g. '["console","wandb"]'
SAVE_FREQ="${SAVE_FREQ:-500}"
TEST_FREQ="${TEST_FREQ:--1}"
VAL_BEFORE_TRAIN="${VAL_BEFORE_TRAIN:-False}"
PYTHON="${PYTHON:-python3}"
ATTN_IMPLEMENTATION="${ATTN_IMPLEMENTATION:-}"  # flash_attention_2 | sdpa | eager; empty: flash-attn if it imports

die() { echo "train.sh: error: $*" >&2; exit 2; }


# Qwen3-VL cuts 16-pixel patches, Qwen2.5-VL 14: verl's data.image_patch_size must match the model.
if [ -z "$MODEL_FAMILY" ]; then
    if [ -f "$MODEL_PATH/config.json" ]; then
        MODEL_FAMILY="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("model_type",""))' "$MODEL_PATH/config.json")"
    else
        case "$(echo "$MODEL_PATH" | tr '[:upper:]' '[:lower:]')" in
            *qwen2.5-vl*|*qwen2_5_vl*|*qwen2_5-vl*) MODEL_FAMILY=qwen2_5_vl ;;
            *) MODEL_FAMILY=qwen3_vl ;;
        esac
    fi
fi
case "$MODEL_FAMILY" in
    qwen3_vl|qwen3_vl_moe) IMAGE_PATCH_SIZE="${IMAGE_PATCH_SIZE:-16}" ;;
    qwen2_5_vl|qwen2_vl) IMAGE_PATCH_SIZE="${IMAGE_PATCH_SIZE:-14}" ;;
    *) die "MODEL_FAMILY '$MODEL_FAMILY' is not a Qwen-VL family: set MODEL_FAMILY=qwen3_vl or qwen2_5_vl" ;;
esac
case "$REWARD_MODE" in
    smooth|strict) ;;
    *) die "REWARD_MODE '$REWARD_MODE' is not supported: use smooth (the paper) or strict (its ablation)" ;;
esac
case "$ROLLOUT_ENGINE" in
    vllm|sglang) ;;
    *) die "ROLLOUT_ENGINE '$ROLLOUT_ENGINE' is not supported: use vllm or sglang" ;;
esac

case "$ONLINE" in
    0) TRAINER_EPOCHS="$TOTAL_EPOCHS" ;;
    1) TRAINER_EPOCHS=1 ;;   # the online dataset spans all TOTAL_EPOCHS itself (see below)
    *) die "ONLINE must be 0 or 1, got '$ONLINE'" ;;
esac
train_files=""
if [ "$ONLINE" = "1" ]; then
    [ -n "$FRAMES_DIRS" ] || die "ONLINE=1 needs FRAMES_DIRS: the frames folders made by pretext_tasks/sample_frames.py"
    for dir in $FRAMES_DIRS; do train_files="${train_files:+$train_files,}'$dir'"; done
else
    for name in $TRAIN_FILES; do
        case "$name" in /*|*.parquet) file="$name" ;; *) file="$DATA_DIR/$name.parquet" ;; esac
        train_files="${train_files:+$train_files,}'$file'"
    done
fi
MAX_MODEL_LEN=$((MAX_PROMPT_LENGTH + MAX_RESPONSE_LENGTH))

args=(
    algorithm.adv_estimator=grpo
    algorithm.use_kl_in_reward=False
    "data.train_files=[$train_files]"
    "data.val_files=['$VAL_FILE']"
    data.train_batch_size="$TRAIN_BATCH_SIZE"
    data.max_prompt_length="$MAX_PROMPT_LENGTH"
    data.max_response_length="$MAX_RESPONSE_LENGTH"
    data.filter_overlong_prompts=True
    data.truncation=error
    data.image_patch_size="$IMAGE_PATCH_SIZE"
    data.video_key=videos
    actor_rollout_ref.model.path="$MODEL_PATH"
    actor_rollout_ref.model.use_remove_padding=True
    actor_rollout_ref.model.enable_gradient_checkpointing=True
    actor_rollout_ref.actor.optim.lr="$LR"
    actor_rollout_ref.actor.ppo_mini_batch_size="$PPO_MINI_BATCH_SIZE"
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="$MICRO_BATCH_SIZE_PER_GPU"
    actor_rollout_ref.actor.use_kl_loss=True
    actor_rollout_ref.actor.kl_loss_coef="$KL_LOSS_COEF"
    actor_rollout_ref.actor.kl_loss_type=low_var_kl
    actor_rollout_ref.actor.entropy_coeff=0
    actor_rollout_ref.actor.fsdp_config.param_offload="$PARAM_OFFLOAD"
    actor_rollout_ref.actor.fsdp_config.optimizer_offload="$PARAM_OFFLOAD"
    actor_rollout_ref.rollout.name="$ROLLOUT_ENGINE"
    actor_rollout_ref.rollout.n="$ROLLOUT_N"
    actor_rollout_ref.rollout.tensor_model_parallel_size="$ROLLOUT_TP"
    actor_rollout_ref.rollout.gpu_memory_utilization="$GPU_MEMORY_UTILIZATION"
    actor_rollout_ref.rollout.max_model_len="$MAX_MODEL_LEN"
    actor_rollout_ref.rollout.max_num_batched_tokens="$MAX_MODEL_LEN"
    actor_rollout_ref.rollout.enable_chunked_prefill=False
    actor_rollout_ref.rollout.enforce_eager=False
    actor_rollout_ref.rollout.free_cache_engine=True
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu="$MICRO_BATCH_SIZE_PER_GPU"
    actor_rollout_ref.rollout.val_kwargs.n=1
    actor_rollout_ref.rollout.val_kwargs.do_sample=False
    actor_rollout_ref.rollout.val_kwargs.temperature=0
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu="$MICRO_BATCH_SIZE_PER_GPU"
    actor_rollout_ref.ref.fsdp_config.param_offload=True
    reward.custom_reward_function.path="$REPO/verl/reward.py"
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.reward_mode="$REWARD_MODE"
    +reward.custom_reward_function.reward_kwargs.answer_format="$ANSWER_FORMAT"
    +reward.custom_reward_function.reward_kwargs.format_weight="$FORMAT_WEIGHT"
    trainer.critic_warmup=0
    "trainer.logger=$LOGGER"
    trainer.n_gpus_per_node="$GPUS_PER_NODE"
    trainer.nnodes="$NNODES"
    trainer.save_freq="$SAVE_FREQ"
    trainer.test_freq="$TEST_FREQ"
    trainer.val_before_train="$VAL_BEFORE_TRAIN"
    trainer.project_name="$PROJECT_NAME"
    trainer.experiment_name="$EXPERIMENT_NAME"
    trainer.default_local_dir="$CHECKPOINT_DIR/$PROJECT_NAME/$EXPERIMENT_NAME"
    trainer.total_epochs="$TRAINER_EPOCHS"
)
if [ "$ONLINE" = "1" ]; then
    # verl walks all epochs' items in one pass: each (video, epoch) is drawn once, with fresh samples.
    args+=(
        data.custom_cls.path=pkg://videossr.training.online_dataset
        data.custom_cls.name=OnlinePretextDataset
        +data.online.seed="$SEED"
        +data.online.epochs="$TOTAL_EPOCHS"
        +data.online.cache_dir="${ONLINE_CACHE_DIR:-$CHECKPOINT_DIR/$PROJECT_NAME/$EXPERIMENT_NAME/online_cache}"
    )
    [ -z "$ONLINE_MIX" ] || args+=("+data.online.mix='$ONLINE_MIX'")
else
    # verl's RLHFDataset, with a length filter that reads frame headers instead of decoding every
    # frame (~0.5 s a row in verl's own, hours for 30K rows); same lengths (bench/bench_filter.py).
    args+=(
        data.custom_cls.path=pkg://videossr.training.dataset
        data.custom_cls.name=VideoSSRDataset
    )
fi
if [ "$ROLLOUT_ENGINE" = "vllm" ]; then
    # vLLM's multimodal preprocessor cache keys on content hashes of the frames; 0 GB turns it off
    # (the released launcher's disable_mm_preprocessor_cache flag no longer exists).
    args+=(+actor_rollout_ref.rollout.engine_kwargs.vllm.mm_processor_cache_gb=0)
    # Our agent loop (verl's public agent-loop registry): vLLM gets one placeholder per video and
    # the actor trains on vLLM's expansion of it. verl 0.9.1's stock loop hands vLLM Qwen3-VL
    # prompts whose video features land in the wrong slots (see videossr/training/agent_loop.py;
    # `python -m videossr.training.parity` checks it).
    args+=(
        actor_rollout_ref.rollout.agent.agent_loop_config_path="$REPO/verl/agent_loop.yaml"
        actor_rollout_ref.rollout.agent.default_agent_loop=videossr_single_turn
    )
fi
# Attention of the FSDP actor: verl defaults to flash_attention_2, which needs the flash-attn
# package (not in requirements-gpu.txt: PyPI has only its source, which compiles for CUDA). Use it
# when it imports, else PyTorch's SDPA (same maths, more memory for long video prompts).
if [ -z "${ATTN_IMPLEMENTATION:-}" ]; then
    if "$PYTHON" -c 'import flash_attn' >/dev/null 2>&1; then
        ATTN_IMPLEMENTATION=flash_attention_2
    else
        ATTN_IMPLEMENTATION=sdpa
        [ "${PRINT_OVERRIDES:-0}" = "1" ] || echo "train.sh: flash_attn does not import with $PYTHON: the actor uses attn_implementation=sdpa (ATTN_IMPLEMENTATION=flash_attention_2 to insist)" >&2
    fi
fi
args+=(+actor_rollout_ref.model.override_config.attn_implementation="$ATTN_IMPLEMENTATION")

if [ "${PRINT_OVERRIDES:-0}" = "1" ]; then
    # For tools and tests that build the very same configuration: one override per line.
    printf '%s\n' "${args[@]}" "$@"
    exit 0
fi
if [ "$DRY_RUN" = "1" ]; then
    exec "$PYTHON" -m videossr.training.dry_run "${args[@]}" "$@"
fi
echo "train.sh: $MODEL_FAMILY at $MODEL_PATH, data $DATA_DIR, $NNODES node(s) x $GPUS_PER_NODE GPU(s), $ROLLOUT_ENGINE rollout" >&2
exec "$PYTHON" -m verl.trainer.main_ppo "${args[@]}" "$@"
