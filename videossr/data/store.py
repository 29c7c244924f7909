"""Resumable output: the append-only log every resumable stage keeps, and the one-writer lock.

:class:`AppendLog` is the single implementation behind the generators' journals
(``OUT/.journal/<key>.jsonl``) and evaluation's ``R/responses.jsonl``. Its guarantees hold when
the process is killed at any byte:

- an entry is one JSON line, written whole, flushed and fsynced before :meth:`AppendLog.append`
  returns, so every line but possibly the last is complete;
- opening repairs the tail: a last line without its newline (a write a kill cut short, never a
  finished entry) is truncated away *before* anything is appended, so a new entry can never glue
  onto it — the defect that once made a second resume drop every entry journalled after a torn
  line;
- a malformed line that is *not* the last cannot come from a crash (the file was edited or
  damaged): it raises, naming the file and line, instead of silently dropping what follows.

It is also frame sampling's journal (``FRAMES/.journal/sampling.jsonl``): every resumable stage
keeps its progress in an :class:`AppendLog`.

:func:`exclusive_writer` is the advisory lock that stops two runs from writing one output: the
second is refused at once with the folder and the holder's process id and command line. It is an
``flock`` on a small lock file, which the kernel releases when the holder dies, so a crashed or
killed run never leaves it stuck (the lock file itself stays; it is not a marker).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from videossr.errors import ConfigError
from videossr.io import dump_json

logger = logging.getLogger(__name__)


class OutputBusyError(ConfigError):
    """Another live run holds the write lock of an output."""


def read_log(path: str | Path) -> tuple[list[Any], bool]:
    """``(entries, torn)`` of an append-only JSON Lines file; blank lines are skipped.

    ``torn`` is True when the last line is incomplete (no newline, or not valid JSON): it is left
    out of ``entries``. Raises :class:`ConfigError` naming the file and line for a malformed line
    anywhere else, and when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"file not found: {path}")
    data = path.read_bytes()
    lines = data.split(b"\n")
    # After split, the element past the last newline is b"" for a complete file, else the torn part.
    complete, tail = lines[:-1], lines[-1]
    entries: list[Any] = []
    torn = bool(tail.strip())
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if number == len(complete) and not tail.strip():
                # The last complete-looking line is damaged: a kill mid-write can leave it so on
                # file systems that do not order the newline after the bytes before it.
                torn = True
                break
            raise ConfigError(f"{path}:{number}: malformed line in an append-only log ({exc})") from exc
    return entries, torn


class AppendLog:
    """An append-only JSON Lines file that survives a kill at any point (see the module docstring).

    Args:
        path: the log file; its folder is created if needed.
        header: when given, the log's first line. An existing log whose first line differs (it was
            written with other settings) is discarded and started afresh; ``entries`` never
            contains the header.

    Attributes:
        entries: the complete entries already in the file, in order (the header excluded).
        repaired: a torn last line was cut off when the log was opened.
    """

    def __init__(self, path: str | Path, header: dict[str, Any] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.entries: list[Any] = []
        self.repaired = False
        if self.path.exists():
            entries, torn = read_log(self.path)
            if header is not None and (not entries or entries[0] != header):
                logger.warning("%s was written with other settings; starting it afresh", self.path)
                self.path.unlink()
            else:
                self.entries = entries[1:] if header is not None else entries
                if torn:
                    self._cut_torn_tail()
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = self.path.open("a", encoding="utf-8")
        if fresh and header is not None:
            self._write(header)

    def _cut_torn_tail(self) -> None:
        """Truncate the file after its last complete entry."""
        data = self.path.read_bytes()
        # No final newline: cut after the last one. A final newline (the damaged line ended in
        # one): cut at the start of that last line.
        body = data if not data.endswith(b"\n") else data.rstrip(b"\n")
        cut = body.rfind(b"\n") + 1
        with self.path.open("r+b") as handle:
            handle.truncate(cut)
            handle.flush()
            os.fsync(handle.fileno())
        self.repaired = True
        logger.warning("%s: cut off a last line that a crash left incomplete", self.path)

    def _write(self, entry: Any) -> None:
        self._handle.write(dump_json(entry) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def append(self, entry: Any) -> None:
        """Write ``entry`` as one line; it is on disk when this returns."""
        self._write(entry)
        self.entries.append(entry)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _holder_description() -> str:
    command = " ".join(sys.argv) if sys.argv and sys.argv[0] else sys.executable
    return f"pid {os.getpid()} on {socket.gethostname()}: {command[:300]}"


@contextmanager
def exclusive_writer(folder: str | Path, name: str = "") -> Iterator[None]:
    """Hold the write lock of ``folder`` (or, with ``name``, of one output in it) for the block.

    Raises :class:`OutputBusyError` at once when another live process holds it; the message names
    the folder and that process. The lock is the kernel's (``flock``): it goes with the holder's
    process, so a crash never leaves it held. Locks of different ``name`` in one folder are
    independent (two generators may write different files of one folder side by side). A name
    with a subfolder (a variant key, ``grounding/channelswap``) locks in that subfolder.
    """
    folder = Path(folder)
    lock_path = folder / (str(Path(name).parent / f".{Path(name).name}.lock") if name else ".videossr.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1000, 0).decode("utf-8", "replace").strip() or "another process"
            what = f"{folder} ({name})" if name else str(folder)
            raise OutputBusyError(
                f"{what} is being written by another run ({holder}); wait for it to finish or use another output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (_holder_description() + "\n").encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
