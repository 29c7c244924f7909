"""Converters from grounding annotation formats met in the field to the unified record format.

- Charades-STA: lines ``VIDEOID start end##sentence`` (seconds), durations from
  ``Charades_v1_test.csv`` (column ``length``).
- ActivityNet Captions (``val_2.json``) and TimeZero / Time-R1 style files:
  ``{video_id: {"duration": s, "timestamps": [[start, end], ...], "sentences": [...]}}``.

Each query becomes ``{"id": "<video>#<k>", "video": ..., "question": sentence,
"answer": "start - end", "duration": seconds}``; ``k`` counts the video's queries in file order.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from videossr.errors import ConfigError


def _record(video: str, k: int, sentence: str, start: float, end: float, duration: float | None) -> dict[str, Any]:
    start, end = (start, end) if start <= end else (end, start)
    record = {"id": f"{video}#{k}", "video": video, "question": sentence.strip(), "answer": f"{start:.2f} - {end:.2f}"}
    if duration is not None:
        record["duration"] = float(duration)
    return record


def read_charades_durations(csv_path: str | Path) -> dict[str, float]:
    """Video id -> duration (s) from Charades' ``Charades_v1_*.csv`` (columns ``id`` and ``length``)."""
    path = Path(csv_path)
    if not path.is_file():
        raise ConfigError(f"durations file not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"id", "length"} <= set(reader.fieldnames):
            raise ConfigError(f"{path}: expected columns 'id' and 'length', found {reader.fieldnames}")
        return {row["id"]: float(row["length"]) for row in reader if row["length"]}


def convert_charades_sta(annotations: str | Path, durations: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Records of a Charades-STA annotation file; a malformed line is an error naming the line."""
    path = Path(annotations)
    if not path.is_file():
        raise ConfigError(f"annotation file not found: {path}")
    records, seen = [], {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        head, sep, sentence = line.partition("##")
        parts = head.split()
        if not sep or len(parts) != 3:
            raise ConfigError(f"{path}:{number}: expected 'VIDEOID start end##sentence', got {line[:80]!r}")
        video, start, end = parts[0], parts[1], parts[2]
        try:
            start_s, end_s = float(start), float(end)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: times must be numbers, got {start!r} {end!r}") from exc
        k = seen.get(video, 0)
        seen[video] = k + 1
        records.append(_record(video, k, sentence, start_s, end_s, (durations or {}).get(video)))
    return records


def convert_sentences_json(path: str | Path, strip_prefix: str = "") -> list[dict[str, Any]]:
    """Records of an ActivityNet-Captions / TimeZero style JSON file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"annotation file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object keyed by video id")
    records = []
    for video, entry in data.items():
        try:
            stamps, sentences = entry["timestamps"], entry["sentences"]
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: video {video!r} lacks timestamps/sentences") from exc
        if len(stamps) != len(sentences):
            raise ConfigError(f"{path}: video {video!r} has {len(stamps)} timestamps for {len(sentences)} sentences")
        name = video[len(strip_prefix):] if strip_prefix and video.startswith(strip_prefix) else video
        for k, ((start, end), sentence) in enumerate(zip(stamps, sentences)):
            records.append(_record(name, k, sentence, float(start), float(end), entry.get("duration")))
    return records
