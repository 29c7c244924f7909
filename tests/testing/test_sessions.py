"""Cleaning up after a run (videossr.testing.sessions): its session's processes and its orphaned shared memory."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import time

from videossr.testing.sessions import kill_session, remove_orphaned_shared_memory, session_pids


def test_kill_session_stops_a_run_and_what_it_started_and_nothing_else(tmp_path):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    # A run that starts a grandchild, as train.sh starts Ray.
    sleeper = "import time; time.sleep(60)"
    script = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleeper!r}]); {sleeper}"
    run = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while len(session_pids(run.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(session_pids(run.pid)) == 2
        kill_session(run.pid)
        run.wait(timeout=10)
        assert session_pids(run.pid) == [] and bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_only_unused_shared_memory_of_the_known_kinds_made_since_the_run_began_is_removed(tmp_path):
    older = tmp_path / "psm_before"
    older.write_bytes(b"x" * 64)
    time.sleep(0.05)
    since = time.time()
    time.sleep(0.05)
    orphans = [tmp_path / name for name in ("psm_0a1b2c3d", "verl_weights_0123", "sem.mp-abc")]
    for path in orphans:
        path.write_bytes(b"x" * 64)
    foreign = tmp_path / "someone_elses_segment"
    foreign.write_bytes(b"x" * 64)
    mapped = tmp_path / "psm_mapped"
    mapped.write_bytes(b"x" * 4096)
    opened = tmp_path / "psm_open"
    opened.write_bytes(b"x" * 64)
    with open(mapped, "r+b") as handle, open(opened, "rb"):
        view = mmap.mmap(handle.fileno(), 4096)
        try:
            removed = remove_orphaned_shared_memory(since, tmp_path)
        finally:
            view.close()
    assert sorted(removed) == sorted(orphans)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["psm_before", "psm_mapped", "psm_open", "someone_elses_segment"]
    assert remove_orphaned_shared_memory(since, tmp_path / "missing") == []
    assert os.path.exists(older)
