#!/usr/bin/env bash
# GRPO training of a Qwen-VL model on VideoSSR data with verl 0.9.1: the paper's recipe.
#
#   bash train/train.sh [--dry-run] [verl overrides ...]      (--help: this text)
#
# Examples:
#   MODEL_PATH=/models/Qwen3-VL-8B-Instruct DATA_DIR=/data/videossr30k bash train/train.sh
#   MODEL_PATH=/models/Qwen2.5-VL-7B-Instruct bash train/train.sh          # family guessed: patch 14
#   REWARD_MODE=strict EXPERIMENT_NAME=strict-ablation bash train/train.sh
#   NNODES=4 bash train/train.sh        # on the head node of a running Ray cluster (see README)
#   bash train/train.sh trainer.total_epochs=2 actor_rollout_ref.actor.optim.lr=5e-7   # extra verl overrides
#   bash train/train.sh --dry-run       # compose + validate with verl's own config system, no GPU needed
#
# The recipe (SPEC §6: plain GRPO, one epoch, lr 1e-6 constant, global batch 64 = mini-batch 64,
# 8 rollouts per prompt, low-variance KL loss 1e-3, no KL in the reward, no entropy bonus) lives in
# one file, verl/videossr_grpo.yaml, which this script hands verl (--config-name videossr_grpo).
# This script adds what only it knows: the model and its patch size, the data files, the cluster,
# the run's names, the rollout engine's settings. The environment variables below override the
# recipe only when set; the others have the defaults shown (the paper's: Qwen3-VL-8B-Instruct,
# prompts up to 8,192 tokens, responses up to 2,048, vLLM rollout, 8 GPUs).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECIPE_DIR="$REPO/verl"
RECIPE_NAME=videossr_grpo

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    # The header comment above is the usage.
    sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
fi

DRY_RUN=0
if [ "${1:-}" = "--dry-run" ]; then
    DRY_RUN=1
    shift
fi
PYTHON="${PYTHON:-python3}"

# ---------------------------------------------------------------- what to train, on what
MODEL_PATH="${MODEL_PATH:-Qwen/Qwen3-VL-8B-Instruct}"
MODEL_FAMILY="${MODEL_FAMILY:-}"            # qwen3_vl | qwen2_5_vl; from MODEL_PATH if empty
DATA_DIR="${DATA_DIR:-$REPO/outputs/videossr30k}"
TRAIN_FILES="${TRAIN_FILES:-}"              # default: the training files of build_mix.py's recipe
VAL_FILE="${VAL_FILE:-$DATA_DIR/val.parquet}"
ONLINE="${ONLINE:-0}"                       # 1: pretext tasks generated in the dataloader from FRAMES_DIRS
FRAMES_DIRS="${FRAMES_DIRS:-}"              # ONLINE=1: frames folders (sample_frames.py), space separated
ONLINE_MIX="${ONLINE_MIX:-}"                # ONLINE=1: e.g. "grounding/ChannelSwap=1;jigsaw/6=4;counting/easy=2"
ONLINE_CACHE_DIR="${ONLINE_CACHE_DIR:-}"    # ONLINE=1: where changed frames go (shared by all nodes)
SEED="${SEED:-0}"
MAX_PROMPT_LENGTH="${MAX_PROMPT_LENGTH:-8192}"
MAX_RESPONSE_LENGTH="${MAX_RESPONSE_LENGTH:-2048}"
TOTAL_EPOCHS="${TOTAL_EPOCHS:-1}"

# ---------------------------------------------------------------- cluster
NNODES="${NNODES:-1}"
GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
ROLLOUT_ENGINE="${ROLLOUT_ENGINE:-vllm}"   # vllm | sglang
ATTN_IMPLEMENTATION="${ATTN_IMPLEMENTATION:-}"  # flash_attention_2 | sdpa | eager; empty: flash-attn if it imports

# ---------------------------------------------------------------- bookkeeping
PROJECT_NAME="${PROJECT_NAME:-VideoSSR}"
EXPERIMENT_NAME="${EXPERIMENT_NAME:-videossr30k-grpo}"
CHECKPOINT_DIR="${CHECKPOINT_DIR:-$REPO/outputs/checkpoints}"

# ---------------------------------------------------------------- recipe overrides (unset: the recipe's value)
#   TRAIN_BATCH_SIZE PPO_MINI_BATCH_SIZE MICRO_BATCH_SIZE_PER_GPU ROLLOUT_N ROLLOUT_TP LR KL_LOSS_COEF
#   GPU_MEMORY_UTILIZATION PARAM_OFFLOAD REWARD_MODE ANSWER_FORMAT FORMAT_WEIGHT LOGGER SAVE_FREQ
#   TEST_FREQ VAL_BEFORE_TRAIN
RECIPE_KNOBS=(
    TRAIN_BATCH_SIZE=data.train_batch_size
    PPO_MINI_BATCH_SIZE=actor_rollout_ref.actor.ppo_mini_batch_size
    MICRO_BATCH_SIZE_PER_GPU=actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu,actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu,actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu
    ROLLOUT_N=actor_rollout_ref.rollout.n
    ROLLOUT_TP=actor_rollout_ref.rollout.tensor_model_parallel_size
    LR=actor_rollout_ref.actor.optim.lr
    KL_LOSS_COEF=actor_rollout_ref.actor.kl_loss_coef
    GPU_MEMORY_UTILIZATION=actor_rollout_ref.rollout.gpu_memory_utilization
    PARAM_OFFLOAD=actor_rollout_ref.actor.fsdp_config.param_offload,actor_rollout_ref.actor.fsdp_config.optimizer_offload
    REWARD_MODE=reward.custom_reward_function.reward_kwargs.reward_mode
    ANSWER_FORMAT=reward.custom_reward_function.reward_kwargs.answer_format
    FORMAT_WEIGHT=reward.custom_reward_function.reward_kwargs.format_weight
    LOGGER=trainer.logger
    SAVE_FREQ=trainer.save_freq
    TEST_FREQ=trainer.test_freq
    VAL_BEFORE_TRAIN=trainer.val_before_train
)

die() { echo "train.sh: error: $*" >&2; exit 2; }


# The family's vision patch size must match verl's data.image_patch_size (videossr/training/models.py).
read -r MODEL_FAMILY PATCH_OF_FAMILY < <("$PYTHON" -m videossr.training.models "$MODEL_PATH" "$MODEL_FAMILY" || echo "- -")
[ "$PATCH_OF_FAMILY" != "-" ] || exit 2
IMAGE_PATCH_SIZE="${IMAGE_PATCH_SIZE:-$PATCH_OF_FAMILY}"
case "${REWARD_MODE:-smooth}" in
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
    # The recipe's files as videossr/data/mix.py names them (one source of truth).
    [ -n "$TRAIN_FILES" ] || TRAIN_FILES="$("$PYTHON" -m videossr.data.mix --train-files)"
    for name in $TRAIN_FILES; do
        case "$name" in /*|*.parquet) file="$name" ;; *) file="$DATA_DIR/$name.parquet" ;; esac
        train_files="${train_files:+$train_files,}'$file'"
    done
fi
MAX_MODEL_LEN=$((MAX_PROMPT_LENGTH + MAX_RESPONSE_LENGTH))

args=(
    "data.train_files=[$train_files]"
    "data.val_files=['$VAL_FILE']"
    data.max_prompt_length="$MAX_PROMPT_LENGTH"
    data.max_response_length="$MAX_RESPONSE_LENGTH"
    data.image_patch_size="$IMAGE_PATCH_SIZE"
    actor_rollout_ref.model.path="$MODEL_PATH"
    actor_rollout_ref.rollout.name="$ROLLOUT_ENGINE"
    actor_rollout_ref.rollout.max_model_len="$MAX_MODEL_LEN"
    actor_rollout_ref.rollout.max_num_batched_tokens="$MAX_MODEL_LEN"
    reward.custom_reward_function.path="$REPO/verl/reward.py"
    trainer.n_gpus_per_node="$GPUS_PER_NODE"
    trainer.nnodes="$NNODES"
    trainer.project_name="$PROJECT_NAME"
    trainer.experiment_name="$EXPERIMENT_NAME"
    trainer.default_local_dir="$CHECKPOINT_DIR/$PROJECT_NAME/$EXPERIMENT_NAME"   # the run folder
    trainer.total_epochs="$TRAINER_EPOCHS"
)
for knob in "${RECIPE_KNOBS[@]}"; do   # VARIABLE=key[,key...]: each key gets the variable's value
    name="${knob%%=*}"
    if [ -n "${!name:-}" ]; then
        IFS=, read -r -a keys <<< "${knob#*=}"
        for key in "${keys[@]}"; do args+=("$key=${!name}"); done
    fi
done
if [ "$ONLINE" = "1" ]; then
    # verl walks all epochs' items in one pass: each (video, epoch) is drawn once, with fresh samples.
    args+=(
        data.custom_cls.path=pkg://videossr.training.online_dataset
        data.custom_cls.name=OnlinePretextDataset
        +data.online.seed="$SEED"
        +data.online.epochs="$TOTAL_EPOCHS"
        +data.online.cache_dir="${ONLINE_CACHE_DIR:-$CHECKPOINT_DIR/$PROJECT_NAME/$EXPERIMENT_NAME/online_cache}"
        # The dataset draws its items in a seeded order of its own: verl's sampler gives another
        # order with dataloader workers than without (see videossr/training/online_dataset.py).
        data.shuffle=False
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

# verl's file logger (trainer.logger has "file" in the recipe): one JSON line of metrics per step,
# drawn by train/curves.py. Each launch gets a new file in the run folder's metrics/, since verl's
# FileLogger truncates the file it opens and a resumed run must keep the steps before it. Passed
# through Ray's runtime_env, so the trainer process sees it on any node, not just this shell.
RUN_FOLDER="$CHECKPOINT_DIR/$PROJECT_NAME/$EXPERIMENT_NAME"
METRICS_FILE="${VERL_FILE_LOGGER_PATH:-$RUN_FOLDER/metrics/$(date -u +%Y%m%dT%H%M%SZ)-$$.jsonl}"
args+=(++ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH="$METRICS_FILE")

if [ "${PRINT_OVERRIDES:-0}" = "1" ]; then
    # For tools and tests that build the very same configuration: one override per line.
    printf '%s\n' "${args[@]}" "$@"
    exit 0
fi
if [ "$DRY_RUN" = "1" ]; then
    exec "$PYTHON" -m videossr.training.dry_run "${args[@]}" "$@"   # composes verl/videossr_grpo.yaml too
fi
mkdir -p "$(dirname "$METRICS_FILE")"
echo "train.sh: $MODEL_FAMILY at $MODEL_PATH, data $DATA_DIR, $NNODES node(s) x $GPUS_PER_NODE GPU(s), $ROLLOUT_ENGINE rollout; metrics -> $METRICS_FILE (python train/curves.py $RUN_FOLDER --output curves.html)" >&2
exec "$PYTHON" -m verl.trainer.main_ppo --config-path "$RECIPE_DIR" --config-name "$RECIPE_NAME" "${args[@]}" "$@"
