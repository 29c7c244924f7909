"""Crash-safe writing of output files, and JSON / JSON Lines reading.

Every output file is written to a temporary name in the same folder and renamed into place, so a
reader (or a re-run after a crash) sees either the old complete file or the new complete file,
never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    The parent folder is created if needed. On an exception the temporary file is removed and
    ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def remove_stale_temporaries(folder: str | Path, names: Iterable[str] | None = None) -> int:
    """Delete the temporary files :func:`atomic_open` left in ``folder`` when a run was killed.

    ``names``: only the temporaries of these output file names (for a folder other runs may be
    writing other files of); None: every temporary in the folder. Only call this while holding
    the write lock of what it removes. A name may have a subfolder (``grounding/channelswap.parquet``):
    its temporaries are looked for in that subfolder; None looks in ``folder`` itself, not below
    it. Returns the number of files removed.
    """
    patterns = [".*.tmp"] if names is None else [str(Path(n).parent / f".{Path(n).name}.*.tmp") for n in names]
    removed = 0
    for pattern in patterns:
        for stale in Path(folder).glob(pattern):
            if stale.is_file():
                stale.unlink(missing_ok=True)
                removed += 1
    return removed


def dump_json(obj: Any) -> str:
    """Canonical one-line JSON: UTF-8 text kept as is, so outputs are byte-stable."""
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_open(path) as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2)
        handle.write("\n")


def write_jsonl_atomic(path: str | Path, rows: Iterable[Any]) -> int:
    """Write one JSON object per line to ``path`` atomically; returns the number of rows."""
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(dump_json(row))
            handle.write("\n")
            count += 1
    return count


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; ``ValueError`` names the file when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def iter_jsonl(path: str | Path) -> Iterator[Any]:
    """Yield the objects of a JSON Lines file, skipping blank lines.

    Raises ``ValueError`` naming the file and line of the first malformed line.
    """
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_number}: not valid JSON ({exc.msg})") from exc
