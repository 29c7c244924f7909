"""The responses file: one JSON object per answered item, appended as results arrive.

``R/responses.jsonl`` is the only state of a run: a killed run resumes by skipping the ids it
holds, and scoring reads it without a model. A line holds at least ``id`` and ``response``; also
``error`` (null when the model answered), ``seconds`` and ``backend``. A line cut short by a crash
is ignored (with everything after it), so appending never corrupts earlier results.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from videossr.errors import ConfigError
from videossr.eval.backends.base import Generation

logger = logging.getLogger(__name__)


def read_responses(path: str | Path, *, strict: bool = False) -> dict[str, dict[str, Any]]:
    """Responses by id (the last line wins for a repeated id).

    Args:
        strict: raise on a malformed line anywhere (for hand-written files) instead of stopping
            at a truncated last line (for files a crash may have cut).

    Raises:
        ConfigError: the file is missing, or (strict) a line is malformed or lacks ``id``/``response``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"responses file not found: {path}")
    entries: dict[str, dict[str, Any]] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or "id" not in entry or "response" not in entry:
                raise ValueError("needs 'id' and 'response'")
        except ValueError as exc:
            if strict or number < len(lines):
                raise ConfigError(f"{path}:{number}: malformed responses line ({exc})") from exc
            logger.warning("%s:%d: ignoring a truncated last line", path, number)
            break
        entries[str(entry["id"])] = entry
    return entries


class ResponseLog:
    """Append-only writer of ``responses.jsonl`` that knows which ids are already answered."""

    def __init__(self, path: str | Path, *, retry_errors: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing = read_responses(self.path) if self.path.exists() else {}
        if retry_errors:
            existing = {k: v for k, v in existing.items() if not v.get("error")}
        self.done: dict[str, dict[str, Any]] = existing
        self._repair_tail()
        self._handle = self.path.open("a", encoding="utf-8")

    def _repair_tail(self) -> None:
        """Drop a partial last line left by a crash, so the next append starts on a fresh line."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with self.path.open("r+b") as handle:
                handle.truncate(cut)

    def append(self, generation: Generation, **extra: Any) -> None:
        entry = {
            "id": generation.id,
            "response": generation.response,
            "error": generation.error,
            "seconds": round(generation.seconds, 4),
            **generation.meta,
            **extra,
        }
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.done[generation.id] = entry

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ResponseLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
