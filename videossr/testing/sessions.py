"""Processes by session: stop a run and everything it started, and nothing else.

A run started with ``start_new_session=True`` leads a new session that holds every process it
starts, Ray's included (Ray makes its driver a process-group leader, so a process-group kill would
miss some). Linux only (``/proc``).

A killed run also leaves shared memory behind: vLLM's message queues (``psm_*``, Python's
``multiprocessing.shared_memory``, 160-240 MiB each), verl's weight-transfer buckets
(``verl_weights_*``) and multiprocessing semaphores in ``/dev/shm``, which is RAM. Nothing removes
them after a SIGKILL, and a few killed runs are gigabytes less memory for the next (a learning
benchmark run was killed by Ray's OOM guard that way). :func:`remove_orphaned_shared_memory`
removes exactly those a run made and no process still uses.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

SHARED_MEMORY = Path("/dev/shm")
#: Name prefixes of what vLLM, verl and multiprocessing put in /dev/shm (nothing else is touched).
SHARED_MEMORY_PREFIXES = ("psm_", "verl_", "sem.mp-")


def session_pids(session_id: int) -> list[int]:
    """Processes (other than this one) whose session is ``session_id``; zombies are left out."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # Fields after the command name (which may contain spaces): state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session_id and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def pss_kb(pid: int) -> int:
    """The process's proportional set size (its share of the memory it maps), kB; 0 once it ended."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def session_pss_kb(session_id: int) -> int:
    """The summed PSS of the session's processes, kB (shared pages counted once over them)."""
    return sum(pss_kb(pid) for pid in session_pids(session_id))


def kill_session(session_id: int, rounds: int = 20) -> None:
    """SIGKILL every process of ``session_id`` until none is left (processes may still fork)."""
    for _ in range(rounds):
        pids = session_pids(session_id)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def _paths_in_use() -> set[str]:
    """Files some process has open or mapped (all processes this user may inspect)."""
    used: set[str] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{entry}/maps").read_text().splitlines():
                parts = line.split(maxsplit=5)
                if len(parts) == 6:
                    used.add(parts[5].removesuffix(" (deleted)"))
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    used.add(os.readlink(f"/proc/{entry}/fd/{fd}"))
    return used


def remove_orphaned_shared_memory(since: float, directory: Path = SHARED_MEMORY) -> list[Path]:
    """Remove this user's vLLM/verl/multiprocessing files in ``directory`` that no process uses.

    Only files whose names start with :data:`SHARED_MEMORY_PREFIXES`, owned by this user, changed
    at or after ``since`` (seconds since the epoch: when the run started) and neither open nor
    mapped by any process. Call it after the run's session is gone. Returns what was removed.
    """
    if not directory.is_dir():
        return []
    candidates = []
    for path in directory.iterdir():
        with contextlib.suppress(OSError):
            info = path.lstat()
            if (
                path.name.startswith(SHARED_MEMORY_PREFIXES)
                and path.is_file()
                and info.st_uid == os.getuid()
                and info.st_ctime >= since
            ):
                candidates.append(path)
    if not candidates:
        return []
    used = _paths_in_use()
    removed = []
    for path in candidates:
        if str(path) not in used:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Remove the shared memory a finished run left behind.")
    parser.add_argument("--shared-memory-since", type=float, required=True, help="the run's start, epoch seconds")
    args = parser.parse_args(argv)
    removed = remove_orphaned_shared_memory(args.shared_memory_since)
    if removed:
        print(f"sessions: removed {len(removed)} orphaned shared-memory file(s) from {SHARED_MEMORY}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
