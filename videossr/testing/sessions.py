"""Processes by session: stop a run and everything it started, and nothing else.

A run started with ``start_new_session=True`` leads a new session that holds every process it
starts, Ray's included (Ray makes its driver a process-group leader, so a process-group kill would
miss some). Linux only (``/proc``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


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
