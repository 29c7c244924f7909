"""Converters from the benchmark files met in the field to the unified record format.

Grounding (records ``{"id", "video", "question": sentence, "ground_truth": "start - end",
"duration_s"}``, seconds; QVHighlights' several windows become a list of spans). The field names
below are each source's own; the records written use this project's (``ground_truth``, ``_s``):

- ``charades``: Charades-STA lines ``VIDEOID start end##sentence``, durations from
  ``Charades_v1_test.csv`` (columns ``id``, ``length``).
- ``sentences-json``: ActivityNet Captions ``val_2.json`` and TimeZero / Time-R1 files,
  ``{video: {"duration", "timestamps": [[s, e], ...], "sentences": [...]}}``.
- ``tvgbench``: Time-R1's TVGBench, a list of ``{"path", "question", "answer": "s-e",
  "duration", "qsemtype", ...}`` (the video id is the file name of ``path``).
- ``qvhighlights``: QVHighlights JSON Lines ``{"qid", "query", "vid", "duration",
  "relevant_windows": [[s, e], ...]}``; the test split has no windows and is refused.
- ``tacos``: TACoS in 2D-TAN's JSON, ``{"s13-d21.avi": {"timestamps": [[f0, f1], ...],
  "sentences", "fps", "num_frames"}}``: timestamps are *frames*, converted with ``fps``.

Multiple choice (records ``{"id", "video", "question": text + "\\nA. ...\\nB. ...",
"ground_truth": letter, "category"}``):

- ``tempcompass``: ``multi-choice.json``, ``{video: {dimension: [{"question" (options
  inside), "answer": "A. ..."}]}}``.
- ``mvbench``: the folder of per-task JSON files (or one of them), ``[{"video", "question",
  "candidates", "answer": candidate text, "start"?, "end"?}]``; the task is the category; the
  bounds (seconds) become ``clip_start_s`` / ``clip_end_s``, and only that clip is sampled.
- ``videomme``: the test parquet (or JSON/JSONL of its rows) ``{"videoID", "question_id",
  "question", "options": ["A. ..."], "answer": "A", "duration": short|medium|long, "task_type"}``.
- ``longvideobench``: ``lvb_val.json`` ``[{"id", "video_path", "question", "candidates",
  "correct_choice": index, "duration", "question_category"}]`` or the parquet's ``option0..4``.
- ``videommmu``: a track's parquet (Perception, Comprehension, Adaptation) or JSON of its rows
  ``{"id", "question", "options", "answer", "question_type"}``; the video is ``<id>.mp4``, the
  subject (from the id) the category. Open (numeric / free-text) questions are not multiple
  choice: they are skipped and counted (``open_questions_skipped``).
- ``lvbench``: ``video_info.meta.jsonl`` ``{"key", "video_info", "qa": [{"uid", "question"
  (options inside), "answer": "A", "question_type"}]}`` or flat rows with ``key``/``uid``.

Every converter returns a :class:`Conversion`: the records and :class:`Counts` of what it did
(reversed spans fixed, spans past the duration, zero-length spans, missing durations, duplicates).
What cannot be read is a :class:`~videossr.errors.ConfigError` naming the file and line: a file
that is not UTF-8 (a UTF-8 byte-order mark is accepted and dropped), NaN / infinite / negative
times, malformed entries, a durations file that matches no video.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videossr.errors import ConfigError

# A span end this far past the video's length is still "within" it: durations are rounded.
DURATION_TOLERANCE_S = 1e-3
LETTERS = "ABCDEFGHIJ"


@dataclass
class Counts:
    """What a conversion did; ``kind`` is ``vtg`` (grounding) or ``vqa`` (multiple choice)."""

    kind: str
    records: int = 0
    videos: set[str] = field(default_factory=set)
    reversed_fixed: int = 0
    past_duration: int = 0
    max_past_s: float = 0.0
    zero_length: int = 0
    missing_durations: int = 0
    duplicates: int = 0
    clip_bounds: int = 0
    open_skipped: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = {
            "records": self.records,
            "videos": len(self.videos),
            "duplicates": self.duplicates,
            "missing_durations": self.missing_durations,
        }
        if self.kind == "vtg":
            out.update(
                reversed_spans_fixed=self.reversed_fixed,
                spans_past_duration=self.past_duration,
                max_past_duration_s=round(self.max_past_s, 3),
                zero_length_spans=self.zero_length,
            )
        if self.clip_bounds:
            out["items_with_clip_bounds"] = self.clip_bounds
        if self.open_skipped:
            out["open_questions_skipped"] = self.open_skipped
        return out

    def describe(self) -> str:
        """The counts as one human-readable line."""
        parts = [f"{self.records} records over {len(self.videos)} videos"]
        if self.kind == "vtg":
            past = f" (by up to {self.max_past_s:.2f} s, kept as is)" if self.past_duration else ""
            parts += [
                f"{self.reversed_fixed} reversed spans fixed",
                f"{self.past_duration} spans past the duration{past}",
                f"{self.zero_length} zero-length spans",
            ]
        parts += [f"{self.missing_durations} missing durations", f"{self.duplicates} duplicates"]
        if self.clip_bounds:
            parts.append(f"{self.clip_bounds} items with clip bounds (only that part of the video is sampled)")
        if self.open_skipped:
            parts.append(f"{self.open_skipped} open (not multiple-choice) questions skipped")
        return ", ".join(parts)


@dataclass
class Conversion:
    """Converted records and the counts that explain them."""

    records: list[dict[str, Any]]
    counts: Counts


# ---------------------------------------------------------------------------------------------
# Reading files: encoding, JSON with line numbers, numbers
# ---------------------------------------------------------------------------------------------


def read_text(path: str | Path) -> str:
    """The text of a UTF-8 file (a byte-order mark dropped); ConfigError naming the line if it is not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"file not found: {path}")
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) >= 4 and data[1:4:2] == b"\x00\x00"):
        raise ConfigError(f"{path}:1: the file is UTF-16, not UTF-8; re-save it as UTF-8 (iconv -f UTF-16 -t UTF-8)")
    try:
        # utf-8-sig: a byte-order mark would otherwise become part of the first video id.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x}); re-save it as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)"
        ) from exc


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _json_top(path: Path) -> tuple[str, Any]:
    text = read_text(path)
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc


def _located(path: Path, text: str, top: Any) -> Iterator[tuple[str, str | None, Any]]:
    """``(where, key, value)`` of each top-level entry: ``where`` is ``file:line`` of the entry."""
    decoder = json.JSONDecoder()
    position = text.index("[" if isinstance(top, list) else "{") + 1
    whitespace = re.compile(r"[\s,]*")
    for _ in range(len(top)):
        position = whitespace.match(text, position).end()
        key = None
        if isinstance(top, dict):
            key, position = decoder.raw_decode(text, position)
            position = re.compile(r"\s*:\s*").match(text, position).end()
        where = f"{path}:{_line_of(text, position)}"
        value, position = decoder.raw_decode(text, position)
        yield where, key, value


def _entries(path: str | Path, expect: type) -> Iterator[tuple[str, str | None, Any]]:
    """Entries of a JSON file whose top level is ``expect`` (list or dict), or of a JSON Lines file."""
    path = Path(path)
    if path.suffix == ".jsonl":
        text = read_text(path)
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield f"{path}:{number}", None, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        return
    text, top = _json_top(path)
    if not isinstance(top, expect):
        shape = "a list of entries" if expect is list else "an object keyed by video id"
        raise ConfigError(f"{path}:1: expected {shape}, found a JSON {type(top).__name__}")
    yield from _located(path, text, top)


def _seconds(value: Any, where: str, what: str) -> float:
    """A time in seconds: a finite number >= 0 (or a numeric string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: {what} {value!r} is not a number of seconds")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ConfigError(f"{where}: {what} {value!r} is not a number of seconds") from None
    if not math.isfinite(number) or number < 0:
        raise ConfigError(f"{where}: {what} {value!r} must be a finite time >= 0 seconds")
    return number


def _pair(value: Any, where: str, what: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(f"{where}: {what} must be [start, end], got {json.dumps(value)[:60]}")
    return _seconds(value[0], where, f"{what} start"), _seconds(value[1], where, f"{what} end")


def _need(entry: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected an object with {', '.join(keys)}, got {json.dumps(entry)[:60]}")
    missing = [k for k in keys if k not in entry or entry[k] is None]
    if missing:
        raise ConfigError(f"{where}: entry lacks {', '.join(missing)} (has {', '.join(sorted(entry))[:120]})")


def _text(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {what} must be non-empty text, got {json.dumps(value)[:60]}")
    return value.strip()


# ---------------------------------------------------------------------------------------------
# Building records with counts
# ---------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, kind: str):
        self.counts = Counts(kind)
        self.records: list[dict[str, Any]] = []
        self._seen: set[tuple] = set()
        self._ids: set[str] = set()
        self._per_video: dict[str, int] = {}

    def next_id(self, video: str) -> str:
        k = self._per_video.get(video, 0)
        self._per_video[video] = k + 1
        return f"{video}#{k}"

    def _add(self, record: dict[str, Any], key: tuple, where: str) -> None:
        if record["id"] in self._ids:
            raise ConfigError(f"{where}: id {record['id']!r} repeats an earlier entry's")
        self._ids.add(record["id"])
        self.counts.duplicates += key in self._seen
        self._seen.add(key)
        self.counts.records += 1
        self.counts.videos.add(record["video"])
        self.records.append(record)

    def span(
        self,
        where: str,
        video: str,
        question: str,
        spans: list[tuple[float, float]],
        duration: float | None,
        record_id: str | None = None,
        **extra: Any,
    ) -> None:
        fixed = []
        for start, end in spans:
            if start > end:
                start, end = end, start
                self.counts.reversed_fixed += 1
            self.counts.zero_length += start == end
            if duration is not None and end > duration + DURATION_TOLERANCE_S:
                self.counts.past_duration += 1
                self.counts.max_past_s = max(self.counts.max_past_s, end - duration)
            fixed.append(f"{start:.2f} - {end:.2f}")
        self.counts.missing_durations += duration is None
        record = {
            "id": record_id or self.next_id(video),
            "video": video,
            "question": question,
            "ground_truth": fixed[0] if len(fixed) == 1 else fixed,
        }
        if duration is not None:
            record["duration_s"] = duration
        record.update({k: v for k, v in extra.items() if v not in (None, "")})
        self._add(record, (video, question.lower(), tuple(fixed)), where)

    def choice(
        self,
        where: str,
        video: str,
        record_id: str,
        question: str,
        options: list[str] | None,
        answer: Any,
        category: str = "",
        **extra: Any,
    ) -> None:
        """``options`` are appended as ``A. text`` lines (None: already in the question); ``answer``
        is a letter, an index into ``options`` or an option's text."""
        from videossr.eval.external import vqa_ground_truth

        if options is not None:
            if not options or len(options) > len(LETTERS) or not all(isinstance(o, str) and o.strip() for o in options):
                raise ConfigError(
                    f"{where}: options must be 1-{len(LETTERS)} non-empty texts, got {json.dumps(options)[:80]}"
                )
            if isinstance(answer, int) and not isinstance(answer, bool):
                if not 0 <= answer < len(options):
                    raise ConfigError(f"{where}: answer index {answer} is outside the {len(options)} options")
                answer = LETTERS[answer]
            question = question + "\n" + "\n".join(f"{LETTERS[i]}. {o.strip()}" for i, o in enumerate(options))
        record = {"id": record_id, "video": video, "question": question, "ground_truth": answer}
        try:
            record["ground_truth"] = vqa_ground_truth(record)[0]
        except ConfigError as exc:
            raise ConfigError(f"{where}: {str(exc).split(': ', 1)[-1]}") from None
        if category:
            record["category"] = category
        record.update({k: v for k, v in extra.items() if v not in (None, "")})
        self.counts.missing_durations += "duration_s" not in record
        self._add(record, (video, question.lower()), where)

    def result(self, source: Path) -> Conversion:
        if not self.records:
            raise ConfigError(f"{source}: no entries found")
        return Conversion(self.records, self.counts)


def _video_id(value: Any, where: str) -> str:
    """A video id from an id or a path: the file name without its extension."""
    name = _text(value, where, "video")
    return (
        Path(name).stem
        if Path(name).suffix.lower() in {".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v"}
        else Path(name).name
    )


# ---------------------------------------------------------------------------------------------
# Grounding converters
# ---------------------------------------------------------------------------------------------


def read_charades_durations(csv_path: str | Path) -> dict[str, float]:
    """Video id -> duration (s) from Charades' ``Charades_v1_*.csv`` (columns ``id`` and ``length``)."""
    path = Path(csv_path)
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    if not reader.fieldnames or not {"id", "length"} <= set(reader.fieldnames):
        raise ConfigError(f"{path}:1: expected columns 'id' and 'length', found {reader.fieldnames}")
    durations = {}
    for row in reader:
        if row["length"]:
            durations[row["id"]] = _seconds(row["length"], f"{path}:{reader.line_num}", "length")
    return durations


def _check_durations_match(builder: _Builder, durations: dict[str, float] | None, source: Path, hint: str) -> None:
    if durations is not None and builder.counts.missing_durations == builder.counts.records:
        raise ConfigError(
            f"the durations file matches none of the {len(builder.counts.videos)} videos of {source} "
            f"(wrong split? pass {hint})"
        )


def convert_charades_sta(annotations: str | Path, durations: dict[str, float] | None = None) -> Conversion:
    """Records of a Charades-STA annotation file; a malformed line is an error naming the line."""
    path = Path(annotations)
    builder = _Builder("vtg")
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        head, sep, sentence = line.partition("##")
        parts = head.split()
        if not sep or len(parts) != 3 or not sentence.strip():
            raise ConfigError(f"{where}: expected 'VIDEOID start end##sentence', got {line[:80]!r}")
        span = (_seconds(parts[1], where, "start"), _seconds(parts[2], where, "end"))
        builder.span(where, parts[0], sentence.strip(), [span], (durations or {}).get(parts[0]))
    _check_durations_match(builder, durations, path, "the Charades_v1_<split>.csv of the same split")
    return builder.result(path)


def convert_sentences_json(path: str | Path, strip_prefix: str = "") -> Conversion:
    """Records of an ActivityNet-Captions / TimeZero style JSON file (see the module docstring)."""
    path = Path(path)
    builder = _Builder("vtg")
    for where, video, entry in _entries(path, dict):
        _need(entry, ("timestamps", "sentences"), where)
        stamps, sentences = entry["timestamps"], entry["sentences"]
        if not isinstance(stamps, list) or not isinstance(sentences, list) or len(stamps) != len(sentences):
            raise ConfigError(f"{where}: video {video!r} needs as many timestamps as sentences (lists)")
        duration = _seconds(entry["duration"], where, "duration") if entry.get("duration") is not None else None
        name = video[len(strip_prefix) :] if strip_prefix and video.startswith(strip_prefix) else video
        for k, (stamp, sentence) in enumerate(zip(stamps, sentences)):
            span = _pair(stamp, where, f"video {video!r} timestamp {k}")
            builder.span(where, name, _text(sentence, where, f"sentence {k}"), [span], duration)
    return builder.result(path)


_TVG_ANSWER = re.compile(r"^\s*([^\s-]+)\s*-\s*([^\s-]+)\s*$")


def convert_tvgbench(path: str | Path) -> Conversion:
    """Records of Time-R1's TVGBench (``answer`` is ``"start-end"`` seconds; category: ``qsemtype``)."""
    path = Path(path)
    builder = _Builder("vtg")
    for where, _, entry in _entries(path, list):
        _need(entry, ("path", "question", "answer"), where)
        match = _TVG_ANSWER.match(str(entry["answer"]))
        if not match:
            raise ConfigError(f"{where}: answer {entry['answer']!r} is not 'start-end' in seconds")
        span = (_seconds(match.group(1), where, "start"), _seconds(match.group(2), where, "end"))
        duration = _seconds(entry["duration"], where, "duration") if entry.get("duration") is not None else None
        builder.span(
            where,
            _video_id(entry["path"], where),
            _text(entry["question"], where, "question"),
            [span],
            duration,
            category=entry.get("qsemtype") or entry.get("dataset_name"),
            source=entry.get("dataset_name"),
        )
    return builder.result(path)


def convert_qvhighlights(path: str | Path) -> Conversion:
    """Records of QVHighlights JSON Lines; every relevant window is a ground-truth span (best IoU counts)."""
    path = Path(path)
    builder = _Builder("vtg")
    for where, _, entry in _entries(path, list):
        _need(entry, ("qid", "query", "vid"), where)
        windows = entry.get("relevant_windows")
        if not isinstance(windows, list) or not windows:
            raise ConfigError(
                f"{where}: query {entry['qid']} has no relevant_windows (the test split has no ground "
                "truth; convert highlight_val_release.jsonl)"
            )
        spans = [_pair(w, where, f"relevant_windows[{k}]") for k, w in enumerate(windows)]
        duration = _seconds(entry["duration"], where, "duration") if entry.get("duration") is not None else None
        builder.span(
            where,
            _text(entry["vid"], where, "vid"),
            _text(entry["query"], where, "query"),
            spans,
            duration,
            record_id=str(entry["qid"]),
        )
    return builder.result(path)


def convert_tacos(path: str | Path, fps: float | None = None) -> Conversion:
    """Records of TACoS in 2D-TAN's JSON: frame timestamps / ``fps`` -> seconds; duration ``num_frames / fps``.

    ``fps`` (frames per second) is used for entries without one; an entry with neither is an error.
    """
    path = Path(path)
    builder = _Builder("vtg")
    for where, video, entry in _entries(path, dict):
        _need(entry, ("timestamps", "sentences"), where)
        rate = entry.get("fps", fps)
        if rate is None:
            raise ConfigError(f"{where}: video {video!r} has no fps (timestamps are frames); pass --fps")
        rate = _seconds(rate, where, "fps")
        if rate <= 0:
            raise ConfigError(f"{where}: fps must be > 0, got {rate}")
        stamps, sentences = entry["timestamps"], entry["sentences"]
        if not isinstance(stamps, list) or not isinstance(sentences, list) or len(stamps) != len(sentences):
            raise ConfigError(f"{where}: video {video!r} needs as many timestamps as sentences (lists)")
        frames = entry.get("num_frames")
        duration = _seconds(frames, where, "num_frames") / rate if frames is not None else None
        for k, (stamp, sentence) in enumerate(zip(stamps, sentences)):
            start_f, end_f = _pair(stamp, where, f"video {video!r} timestamp {k}")
            builder.span(
                where,
                _video_id(video, where),
                _text(sentence, where, f"sentence {k}"),
                [(start_f / rate, end_f / rate)],
                duration,
            )
    return builder.result(path)


# ---------------------------------------------------------------------------------------------
# Multiple-choice converters
# ---------------------------------------------------------------------------------------------


def convert_tempcompass(path: str | Path) -> Conversion:
    """Records of TempCompass ``multi-choice.json``; the dimension (speed, direction, ...) is the category."""
    path = Path(path)
    builder = _Builder("vqa")
    for where, video, dimensions in _entries(path, dict):
        if not isinstance(dimensions, dict):
            raise ConfigError(f"{where}: video {video!r} must map dimensions to question lists")
        for dimension, items in dimensions.items():
            if not isinstance(items, list):
                raise ConfigError(f"{where}: video {video!r} dimension {dimension!r} must be a list of questions")
            for k, item in enumerate(items):
                _need(item, ("question", "answer"), where)
                builder.choice(
                    where,
                    video,
                    f"{video}#{dimension}#{k}",
                    _text(item["question"], where, "question"),
                    None,
                    item["answer"],
                    dimension,
                )
    return builder.result(path)


def convert_mvbench(path: str | Path) -> Conversion:
    """Records of MVBench's per-task JSON files (a folder of them, or one); the file name is the task."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise ConfigError(f"{path}: no .json task files in the folder (pass MVBench's json/ folder)")
    builder = _Builder("vqa")
    for file in files:
        task = file.stem
        for k, (where, _, entry) in enumerate(_entries(file, list)):
            _need(entry, ("video", "question", "candidates", "answer"), where)
            extra = {}
            if "start" in entry or "end" in entry:
                builder.counts.clip_bounds += 1
                extra = {
                    "clip_start_s": _seconds(entry.get("start", 0), where, "start"),
                    "clip_end_s": _seconds(entry["end"], where, "end") if "end" in entry else None,
                }
            candidates = entry["candidates"]
            answer = entry["answer"]
            if isinstance(candidates, list) and answer in candidates:
                answer = candidates.index(answer)  # the text, matched exactly as MVBench's own scorer does
            builder.choice(
                where,
                _text(entry["video"], where, "video"),
                f"{task}#{k}",
                _text(entry["question"], where, "question"),
                candidates,
                answer,
                task,
                **extra,
            )
    return builder.result(path)


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a parquet file (``file:row N``) or of a JSON list / JSON Lines file (``file:line``)."""
    if path.suffix == ".parquet":
        if not path.is_file():
            raise ConfigError(f"file not found: {path}")
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several unrelated types for an unreadable file
            raise ConfigError(f"{path}: not a readable parquet file ({exc})") from exc
        for number, row in enumerate(table.to_pylist(), start=1):
            yield f"{path}:row {number}", row
        return
    for where, _, entry in _entries(path, list):
        yield where, entry


def convert_videomme(path: str | Path) -> Conversion:
    """Records of Video-MME (``options`` are ``"A. ..."`` texts); category ``task_type``, ``duration_class`` kept."""
    path = Path(path)
    builder = _Builder("vqa")
    for where, row in _rows(path):
        _need(row, ("videoID", "question_id", "question", "options", "answer"), where)
        options = row["options"]
        if not isinstance(options, list) or not options:
            raise ConfigError(f"{where}: options must be a list of 'A. text' entries")
        question = _text(row["question"], where, "question") + "\n" + "\n".join(str(o).strip() for o in options)
        builder.choice(
            where,
            _text(row["videoID"], where, "videoID"),
            str(row["question_id"]),
            question,
            None,
            row["answer"],
            str(row.get("task_type") or ""),
            duration_class=row.get("duration"),
            domain=row.get("domain"),
        )
    return builder.result(path)


def convert_longvideobench(path: str | Path) -> Conversion:
    """Records of LongVideoBench (``candidates`` or ``option0..4`` with "N/A" for none; ``correct_choice`` index)."""
    path = Path(path)
    builder = _Builder("vqa")
    for where, row in _rows(path):
        _need(row, ("id", "question", "correct_choice"), where)
        if "candidates" in row:
            options = row["candidates"]
        else:
            options = [row[f"option{i}"] for i in range(5) if row.get(f"option{i}") not in (None, "N/A")]
        video = row.get("video_path") or row.get("video_id")
        duration = _seconds(row["duration"], where, "duration") if row.get("duration") is not None else None
        builder.choice(
            where,
            _video_id(video, where),
            str(row["id"]),
            _text(row["question"], where, "question"),
            options,
            row["correct_choice"],
            str(row.get("question_category") or ""),
            duration_s=duration,
        )
    return builder.result(path)


def convert_lvbench(path: str | Path) -> Conversion:
    """Records of LVBench: ``video_info.meta.jsonl`` (``qa`` lists per video) or flat rows (``key``, ``uid``)."""
    path = Path(path)
    builder = _Builder("vqa")
    for where, row in _rows(path):
        if isinstance(row, dict) and "qa" in row:
            _need(row, ("key",), where)
            if not isinstance(row["qa"], list):
                raise ConfigError(f"{where}: qa must be a list of questions")
            info = row.get("video_info") or {}
            minutes = info.get("duration_minutes") if isinstance(info, dict) else None
            duration = _seconds(minutes, where, "duration_minutes") * 60 if minutes is not None else None
            items = [(row["key"], qa, duration) for qa in row["qa"]]
        else:
            if not isinstance(row, dict) or not (row.get("key") or row.get("video_path")):
                raise ConfigError(f"{where}: entry lacks key (or video_path) and qa")
            items = [(row.get("key") or _video_id(row["video_path"], where), row, None)]
        for video, qa, duration in items:
            _need(qa, ("uid", "question", "answer"), where)
            types = qa.get("question_type")
            category = types[0] if isinstance(types, list) and types else str(types or "")
            question = _text(qa["question"], where, "question")
            options = qa.get("options") or None
            builder.choice(
                where,
                _text(video, where, "key"),
                str(qa["uid"]),
                question,
                options,
                qa["answer"],
                category,
                duration_s=duration,
                time_reference=qa.get("time_reference"),
            )
    return builder.result(path)


_LETTERED = re.compile(r"^\s*\(?([A-J])[.)]\s*")


def convert_videommmu(path: str | Path) -> Conversion:
    """Records of a VideoMMMU track (multiple-choice questions; open ones are skipped and counted)."""
    path = Path(path)
    builder = _Builder("vqa")
    for where, row in _rows(path):
        _need(row, ("id", "question", "answer"), where)
        if str(row.get("question_type", "multiple-choice")) != "multiple-choice":
            builder.counts.open_skipped += 1
            continue
        options = row.get("options")
        if not isinstance(options, list) or not options:
            raise ConfigError(f"{where}: a multiple-choice question needs a list of options")
        # Options may come lettered already ("A. 12"); the letters are written once, by us.
        letters = [m.group(1) if (m := _LETTERED.match(str(o))) else None for o in options]
        if letters == list(LETTERS[: len(options)]):
            options = [_LETTERED.sub("", str(o), count=1) for o in options]
        record_id = _text(row["id"], where, "id")
        subject = "_".join(record_id.split("_")[1:-1])
        builder.choice(
            where, record_id, record_id, _text(row["question"], where, "question"), options, row["answer"], subject
        )
    if not builder.records and builder.counts.open_skipped:
        raise ConfigError(f"{path}: all {builder.counts.open_skipped} questions are open (no multiple choice to score)")
    return builder.result(path)


CONVERTERS: dict[str, Callable[..., Conversion]] = {
    "charades": convert_charades_sta,
    "sentences-json": convert_sentences_json,
    "tvgbench": convert_tvgbench,
    "qvhighlights": convert_qvhighlights,
    "tacos": convert_tacos,
    "tempcompass": convert_tempcompass,
    "mvbench": convert_mvbench,
    "videomme": convert_videomme,
    "longvideobench": convert_longvideobench,
    "lvbench": convert_lvbench,
    "videommmu": convert_videommmu,
}
