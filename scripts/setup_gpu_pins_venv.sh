#!/usr/bin/env bash
# The GPU environment's exact pins (requirements-gpu.txt: verl[vllm]==0.9.1 -> vllm 0.24.0,
# transformers 5.9.0, torch 2.11.0) in a cached virtualenv on a machine WITHOUT a GPU, so that the
# rollout parity check (python -m videossr.training.parity) runs with the versions users install:
# vLLM's and transformers' multimodal processors are pure CPU code, no engine is started.
#
#   bash scripts/setup_gpu_pins_venv.sh          # install if needed; prints the venv's python path
#   bash scripts/setup_gpu_pins_venv.sh --path   # prints the venv's folder; installs nothing
#
# The venv lives under ${VIDEOSSR_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/videossr}/gpu-pins-<hash>/, keyed by a hash of
# requirements-gpu.txt's requirement lines, so a changed pin installs a fresh one and an unchanged one
# takes a second. ~11 GB (CUDA torch and NVIDIA libraries that are never loaded here), a few minutes.
# The project itself is not installed into it: callers put the checkout on PYTHONPATH, so one cache
# serves every clone. Built, locked and recorded by scripts/cached_env.sh: a stamp file written last
# marks a complete install; a failed one leaves <venv>.failed (the end of pip's output, which the
# parity tests print as their skip reason); a new build removes the ones made for other pins.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[setup-gpu-pins] %s\n' "$*" >&2; }

python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))' || {
    log "$python is $("$python" --version 2>&1); the GPU pins need Python 3.11 or 3.12 (av 18.1 needs >=3.11, verl 0.9.1 <3.13)"
    exit 1
}
# Keyed by the requirement lines only (comments stripped) and a layout version of this script.
LAYOUT=1
key=$( (echo "layout $LAYOUT"; sed -e 's/#.*//' -e '/^[[:space:]]*$/d' requirements-gpu.txt) | sha256sum | cut -c1-12)
cache_root="${VIDEOSSR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/videossr}"
venv="$cache_root/gpu-pins-$key"
stamp="$venv/.videossr-gpu-pins-stamp"
if [ "${1:-}" = "--path" ]; then
    echo "$venv"
    exit 0
fi
# A stamp with no working vllm (a folder damaged since) is built again.
if [ -f "$stamp" ] && ! "$venv/bin/python" -c 'import vllm, verl' >/dev/null 2>&1; then
    rm -f "$stamp"
fi
install() {
    log "creating $venv (first run: a few minutes, ~11 GB); pip's output goes to $venv.log"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -r requirements-gpu.txt
    "$venv/bin/python" -c 'import importlib.metadata as m; print(*(f"{p} {m.version(p)}" for p in ("vllm", "verl", "torch", "transformers")), sep=", ")'
}

# shellcheck source=scripts/cached_env.sh
. scripts/cached_env.sh
build_cached_env "$venv" "$stamp" 14 "$cache_root/gpu-pins-"
echo "$venv/bin/python"
