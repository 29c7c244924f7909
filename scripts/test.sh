#!/usr/bin/env bash
# Set everything up (idempotent) and run the whole test suite: CPU-only and offline.
# Usage: bash scripts/test.sh [pytest arguments]      e.g. bash scripts/test.sh -k decoder -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
