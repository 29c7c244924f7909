#!/usr/bin/env bash
# Install the lmms-eval environment (lmms-eval 0.7.3 beside this package) into a cached virtualenv.
#
#   bash scripts/setup_lmms_eval.sh          # install if needed (idempotent); print the venv's folder
#   bash scripts/setup_lmms_eval.sh --path   # print the folder it uses; install nothing
#
# What needs it: tests/eval/test_lmms_eval.py (VIUBench as an lmms-eval task, run by lmms-eval on
# the CPU), which skips, with the reason, when it is missing. Users with an lmms-eval environment of
# their own need none of this: `pip install -e <this repository>` there is enough (README).
#
# Why an environment of its own: lmms-eval caps PyAV below 16, requirements.txt pins 18.1
# (requirements-lmms-eval.txt says more). The folder lives outside the clone, under
# ${VIDEOSSR_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/videossr}/, named after a hash of what decides
# its content (requirements-lmms-eval.txt, the package's lmms-eval entry point, the Python version),
# so every clone and CI rerun on one machine shares it. This package is installed into it editable
# (--no-deps) for its entry point, from the clone that built it; callers put their own checkout
# first on PYTHONPATH, so its code is the one that runs. A finished folder holds the stamp file
# (written last); a failed install leaves <folder>.failed with the end of pip's output, which the
# test prints as its skip reason. First install: ~2 min with a warm pip cache, ~7 GB.
#
# Settings: PYTHON (interpreter, default python3), VIDEOSSR_LMMS_EVAL_VENV (use this folder instead).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[setup-lmms-eval] %s\n' "$*" >&2; }

# Bump when the steps below change what ends up in the folder.
LAYOUT_VERSION=1
python="${PYTHON:-python3}"
cache_root="${VIDEOSSR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/videossr}"

venv_path() {
    local key
    key=$({ sed -e 's/#.*//' -e '/^[[:space:]]*$/d' requirements-lmms-eval.txt
            grep -A2 'lmms_eval.models' pyproject.toml
            echo "layout $LAYOUT_VERSION"
            "$python" -c 'import platform, sys; print(sys.version_info[:2], platform.machine())'
          } | sha256sum | cut -c1-16)
    echo "${VIDEOSSR_LMMS_EVAL_VENV:-$cache_root/lmms-eval-$key}"
}

VENV="$(venv_path)"
STAMP="$VENV/.videossr-lmms-eval-stamp"
if [ "${1:-}" = "--path" ]; then
    echo "$VENV"
    exit 0
fi

check_stack() {
    # lmms-eval starts, knows the videossr model through our entry point, and the task's code imports.
    HF_HUB_OFFLINE=1 PYTHONPATH="$PWD" "$VENV/bin/python" - <<'PY'
import importlib.metadata as metadata
from lmms_eval.models import MODEL_REGISTRY_V2
assert "videossr" in MODEL_REGISTRY_V2.list_model_names(), "lmms-eval does not see the videossr model"
import videossr.eval.lmms_eval.model  # noqa: F401
print(f"lmms-eval {metadata.version('lmms-eval')}, torch {metadata.version('torch')}, "
      f"transformers {metadata.version('transformers')}, av {metadata.version('av')}")
PY
}

install() {
    log "building $VENV (first run: ~2 min, ~7 GB)"
    "$python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r requirements-lmms-eval.txt
    "$VENV/bin/python" -m pip install -q --no-deps -e .
    check_stack
}

# shellcheck source=scripts/cached_env.sh
. scripts/cached_env.sh
build_cached_env "$VENV" "$STAMP" 9 "$cache_root/lmms-eval-"
echo "$VENV"
