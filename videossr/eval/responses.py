"""The responses file: one JSON object per answered item, appended as results arrive.

``R/responses.jsonl`` is the only state of a run: a killed run resumes by skipping the ids it
holds, and scoring reads it without a model. A line holds at least ``id`` and ``response``; also
``error`` (null when the model answered), ``wall_s`` (seconds) and ``backend``. It is an
:class:`~videossr.data.store.AppendLog`: a last line that a crash cut short is cut off before the next
append, so resuming never corrupts or loses a finished answer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from videossr.data.store import AppendLog, read_log
from videossr.errors import ConfigError
from videossr.eval.backends.base import Generation

logger = logging.getLogger(__name__)


def _check_entries(path: Path, entries: list[Any]) -> dict[str, dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or "id" not in entry or "response" not in entry:
            raise ConfigError(
                f"{path}: entry {number} is not a response (needs 'id' and 'response'): {str(entry)[:80]}"
            )
        by_id[str(entry["id"])] = entry
    return by_id


def read_responses(path: str | Path, *, strict: bool = False) -> dict[str, dict[str, Any]]:
    """Responses by id (the last line wins for a repeated id).

    Args:
        strict: also refuse an incomplete last line (for hand-written files) instead of ignoring
            it (for files a crash may have cut).

    Raises:
        ConfigError: the file is missing, a line other than the last is malformed (or, strict,
            the last one), or an entry lacks ``id``/``response``.
    """
    path = Path(path)
    entries, torn = read_log(path)
    if torn:
        if strict:
            raise ConfigError(f"{path}: the last line is not a complete JSON object")
        logger.warning("%s: ignoring a truncated last line", path)
    return _check_entries(path, entries)


class ResponseLog:
    """Append-only writer of ``responses.jsonl`` (an :class:`~videossr.data.store.AppendLog`) that
    knows which ids are already answered."""

    def __init__(self, path: str | Path, *, retry_errors: bool = False):
        self.path = Path(path)
        self._log = AppendLog(self.path)
        existing = _check_entries(self.path, self._log.entries)
        if retry_errors:
            existing = {k: v for k, v in existing.items() if not v.get("error")}
        self.done: dict[str, dict[str, Any]] = existing

    def append(self, generation: Generation, **extra: Any) -> None:
        entry = {
            "id": generation.id,
            "response": generation.response,
            "error": generation.error,
            "wall_s": round(generation.wall_s, 4),
            **generation.meta,
            **extra,
        }
        self._log.append(entry)
        self.done[generation.id] = entry

    def close(self) -> None:
        self._log.close()

    def __enter__(self) -> ResponseLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
