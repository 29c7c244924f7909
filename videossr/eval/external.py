"""External video benchmarks in the unified record format: multiple-choice QA and grounding.

A benchmark file is a JSON list (or JSON Lines) of records::

    {"video": "fFjv93ACGo8", "question": "What is ... ?\\n(A) ...\\n(B) ...", "ground_truth": "C"}
    {"video": "3MSZA", "question": "person turns a light on.", "ground_truth": "24.3 - 30.4", "duration_s": 30.9}
    {"video": "qv1", "question": "a dog runs.", "ground_truth": ["2 - 6", "10 - 14"], "duration_s": 150}

optionally with ``id`` (default: the line number) and ``category`` (for a per-category breakdown).
Files that spell the ground truth ``answer`` and the duration ``duration`` (lmms-eval's names, and
this project's before the vocabulary change) are read as well: :func:`load_records` renames them.
Videos are looked up under ``--video-dir`` by id, with any common extension.

Ground truth is checked (:func:`validate_records`): a multiple-choice question must offer its
options (one per line or inline: ``A.``, ``A)``, ``(A)``, ``A:``) and its ``ground_truth`` must be one of
their letters (``"C"``, ``"(C)"``, ``"C. cooking"``) or the text of exactly one option (the MVBench
style), mapped to its letter. A grounding ``ground_truth`` is ``"start - end"`` seconds with
0 <= start <= end, or a list of them (several ground-truth windows: the IoU is the best over them,
as QVHighlights' official R1@IoU takes it).

The paper's protocol (SPEC §7): frames at 2 fps, at most 32/48/64 of them, evenly spaced over the
whole video, at most 512x512 pixels, greedy decoding, no chain of thought. Frames are decoded
exactly (our decoder) and handed to the model with their true rate, so the model's clock is the
video's: a time ``t`` the model says is ``t`` seconds into the source video.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videossr.errors import ConfigError, VideoError
from videossr.eval.backends.base import Request, VideoInput
from videossr.eval.metrics import ItemScore, summarize
from videossr.eval.parsing import parse_option_letter, parse_options, parse_time_span
from videossr.frames.plan import EVAL_FPS, clip_frame_range, eval_frame_indices, rate_of_times
from videossr.io import iter_jsonl, read_json
from videossr.rewards.grounding import interval_iou
from videossr.video.discovery import VIDEO_EXTENSIONS

logger = logging.getLogger(__name__)

VQA_PROMPT = "{question}\nAnswer with the option letter directly."
# lmms-eval's temporal grounding prompt, typo ("seonds") included, as the paper used it.
VTG_PROMPT = (
    "Please find the visual event described by a sentence in the video, determining its starting and ending "
    "times. The format should be: 'The event happens in the start time - end time'. For example, The event "
    "'person turn a light on' happens in the 24.3 - 30.4 seonds. Now I will give you the textual sentence: "
    "{question} Please return its start time and end time."
)
EVAL_MAX_PIXELS = 512 * 512
EVAL_MIN_PIXELS = 128 * 128


#: Older spellings of record fields -> this project's (lmms-eval and earlier files say ``answer``).
LEGACY_FIELDS = {"answer": "ground_truth", "duration": "duration_s"}


def rename_legacy_fields(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with :data:`LEGACY_FIELDS` renamed in place (a field already present wins)."""
    for old, new in LEGACY_FIELDS.items():
        if old in record and new not in record:
            record[new] = record.pop(old)
    return record


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Records of a benchmark file, each with an ``id``; clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"benchmark file not found: {path}")
    try:
        records = list(iter_jsonl(path)) if path.suffix == ".jsonl" else read_json(path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if not isinstance(records, list) or not records:
        raise ConfigError(f"{path} holds no records (expected a JSON list of {{video, question, ground_truth}})")
    for number, record in enumerate(records):
        if isinstance(record, dict):
            rename_legacy_fields(record)
        if not isinstance(record, dict) or not {"video", "question", "ground_truth"} <= set(record):
            raise ConfigError(f"{path}: record {number} lacks video/question/ground_truth: {str(record)[:120]}")
        record.setdefault("id", str(number))
        record["id"] = str(record["id"])
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: record ids repeat")
    return records


class VideoLookup:
    """Finds ``<video_dir>/**/<id>.<ext>`` (any common extension, any case), indexed once."""

    def __init__(self, video_dir: str | Path):
        self.video_dir = Path(video_dir)
        if not self.video_dir.is_dir():
            raise ConfigError(f"--video-dir {self.video_dir} is not a folder")
        self._by_stem: dict[str, Path] = {}
        for dirpath, _, filenames in os.walk(self.video_dir, followlinks=True):
            for name in filenames:
                stem, ext = os.path.splitext(name)
                if ext.lower() in VIDEO_EXTENSIONS:
                    self._by_stem.setdefault(stem, Path(dirpath) / name)

    def find(self, video_id: str) -> Path:
        path = self._by_stem.get(video_id) or self._by_stem.get(Path(video_id).stem)
        if path is None:
            raise VideoError(f"video not found: {video_id!r} under {self.video_dir}")
        return path


@dataclass(frozen=True)
class Protocol:
    max_frames: int = 48
    max_pixels: int = EVAL_MAX_PIXELS
    min_pixels: int = EVAL_MIN_PIXELS
    fps: float = EVAL_FPS
    max_new_tokens: int = 128


def video_input(path: Path, protocol: Protocol, clip_s: tuple[float, float] | None = None) -> tuple[VideoInput, float]:
    """The decoded frames of ``path`` under ``protocol``, and the duration in seconds of what they cover.

    ``clip_s`` = ``(start_s, end_s)`` samples only that part of the video (MVBench's bounds), its
    duration then being the clip's.
    """
    from videossr.video.decoder import decode_frames, probe_video

    probe = probe_video(path)
    native_fps = float(probe.native_fps)
    first, last = clip_frame_range(probe.num_frames, native_fps, clip_s)
    indices = [first + i for i in eval_frame_indices(last - first + 1, native_fps, protocol.max_frames, protocol.fps)]
    frames = tuple(d.image for d in decode_frames(probe, indices, max_pixels=protocol.max_pixels, pixel_format="rgb24"))
    sample_fps = rate_of_times([probe.frame_time_s(i) for i in indices], native_fps)
    duration = (last - first + 1) / native_fps
    return VideoInput(frames, sample_fps, protocol.max_pixels, protocol.min_pixels), duration


def record_clip(record: dict[str, Any]) -> tuple[float, float] | None:
    """A record's clip bounds ``(clip_start_s, clip_end_s)`` in seconds, or None for the whole video."""
    if record.get("clip_start_s") is None and record.get("clip_end_s") is None:
        return None
    start = float(record.get("clip_start_s") or 0.0)
    end = float(record["clip_end_s"]) if record.get("clip_end_s") is not None else math.inf
    if not (math.isfinite(start) and 0 <= start <= end):
        raise ConfigError(f"record {record.get('id')}: clip {start} - {end} s needs 0 <= clip_start_s <= clip_end_s")
    return start, end


def options_of(question: str) -> str:
    """Option letters offered in a multiple-choice question (see :func:`parse_options`); ABCD if none."""
    return "".join(parse_options(question)) or "ABCD"


_TRUTH_LETTER = re.compile(r"^\s*[(\[]?([A-Z])[)\]]?(?:[.:)]?\s*$|[.:)\]]\s+\S)")
_TRUTH_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")
_WORDS = re.compile(r"[^\w]+")
MAX_UNPARSED_EXAMPLES = 5


def vqa_ground_truth(record: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The right letter of a multiple-choice record and its options; ConfigError naming the record if bad.

    ``ground_truth`` may be the letter (``"C"``, ``"(C)"``, ``"C. cooking"``) or the text of exactly one
    option (case and punctuation ignored).
    """
    question, answer = record.get("question"), record.get("ground_truth")
    options = parse_options(question if isinstance(question, str) else "")
    if not options:
        raise ConfigError(
            f"record {record.get('id')}: no options found in the question (write them as 'A. text', "
            "'(A) text', 'A) text' or 'A: text', one per line or inline)"
        )
    if not isinstance(answer, str) or not answer.strip():
        raise ConfigError(f"record {record.get('id')}: ground truth {answer!r} is not an option letter or option text")
    match = _TRUTH_LETTER.match(answer)
    if match:
        if match.group(1) not in options:
            raise ConfigError(
                f"record {record.get('id')}: ground truth {answer!r} is not among the options {''.join(options)}"
            )
        return match.group(1), options
    said = _WORDS.sub(" ", answer.lower()).strip()
    found = [letter for letter, text in options.items() if _WORDS.sub(" ", text.lower()).strip() == said]
    if len(found) != 1:
        raise ConfigError(
            f"record {record.get('id')}: ground truth {answer!r} matches {len(found)} option texts "
            f"(options: {'; '.join(f'{k}. {v}' for k, v in options.items())[:200]})"
        )
    return found[0], options


def vtg_ground_truths(record: dict[str, Any]) -> list[tuple[float, float]]:
    """The ground-truth windows ``[(start_s, end_s), ...]`` of a grounding record; ConfigError if bad.

    ``ground_truth`` is ``"start - end"`` (seconds, 0 <= start <= end, finite) or a non-empty list of such
    strings or of ``[start, end]`` pairs.
    """
    answer = record.get("ground_truth")
    spans = answer if isinstance(answer, list) else [answer]
    if not spans:
        raise ConfigError(
            f"record {record.get('id')}: ground_truth is an empty list (pass 'start - end' or a list of them)"
        )
    windows = []
    for span in spans:
        if isinstance(span, str) and (match := _TRUTH_SPAN.match(span)):
            start, end = float(match.group(1)), float(match.group(2))
        elif (
            isinstance(span, (list, tuple))
            and len(span) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in span)
        ):
            start, end = float(span[0]), float(span[1])
        else:
            raise ConfigError(f"record {record.get('id')}: ground truth {span!r} is not 'start - end' in seconds")
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end):
            raise ConfigError(f"record {record.get('id')}: ground truth {span!r} needs finite 0 <= start <= end")
        windows.append((start, end))
    return windows


def validate_records(
    records: list[dict[str, Any]], kind: str, *, skip_invalid: bool = False
) -> tuple[list[dict[str, Any]], list[str]]:
    """The valid records and the ids of the skipped ones; one ConfigError listing every bad id otherwise.

    ``kind`` is ``vqa`` or ``vtg``. With ``skip_invalid`` bad records are dropped (and their ids
    returned, to be counted) instead.
    """
    check = vqa_ground_truth if kind == "vqa" else vtg_ground_truths
    valid, invalid = [], []
    for record in records:
        try:
            check(record)
            record_clip(record)
        except ConfigError as exc:
            invalid.append((record["id"], str(exc).split(": ", 1)[-1]))
            continue
        valid.append(record)
    if invalid and not skip_invalid:
        shown = "; ".join(f"{i}: {reason}" for i, reason in invalid[:5])
        more = f"; and {len(invalid) - 5} more" if len(invalid) > 5 else ""
        raise ConfigError(
            f"{len(invalid)} of {len(records)} records are invalid ({shown}{more}); "
            "fix them or pass --skip-invalid to score the rest"
        )
    if not valid:
        raise ConfigError(f"all {len(records)} records are invalid (first: {invalid[0][0]}: {invalid[0][1]})")
    for record_id, reason in invalid:
        logger.warning("skipping invalid record %s: %s", record_id, reason)
    return valid, [i for i, _ in invalid]


#: Decoding threads of the answering process when there are no decode worker processes.
DECODE_THREADS = min(4, os.cpu_count() or 1)


def _import_decoder() -> None:
    """Worker initializer: pay the imports when a worker starts, not inside its first decode."""
    import videossr.video.decoder  # noqa: F401


class FrameCache:
    """Each (video, protocol) decoded once: the frames of the most recently used videos, bounded.

    Long-video benchmarks ask several questions per video (Video-MME ~3, LVBench ~15); without
    this every question re-probes and re-decodes its video. ``get`` returns the cached
    ``(VideoInput, duration_s)``; callers asking for a video being decoded wait for that decode
    instead of starting another. A decode error is cached like a result, so every question of a
    broken video fails with the same error and the file is read once.

    Decodes run in ``workers`` worker processes (spawned, so no thread or GPU state of the parent
    is forked), or with ``workers=0`` in :data:`DECODE_THREADS` threads of this process (decoding
    releases the GIL). Each decode is single-threaded, so ``parallelism`` videos decode at once and
    one worker is one core: give decoding as many workers as cores you can spare. :meth:`prefetch`
    starts the next videos' decodes ahead of their questions, so all decoders stay busy. At most
    ``max_videos`` results are kept (about 38 MB each at 48 frames of 512x512); the oldest are
    dropped first.
    """

    def __init__(self, max_videos: int = 8, workers: int = 0):
        if max_videos < 1:
            raise ConfigError(f"--cache-videos must be >= 1, got {max_videos}")
        if workers < 0:
            raise ConfigError(f"--decode-workers must be >= 0, got {workers}")
        self.max_videos = max_videos
        self.parallelism = workers or DECODE_THREADS
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, Protocol, tuple[float, float] | None], Future] = OrderedDict()
        if workers:
            self._pool: Executor | None = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_import_decoder
            )
        else:
            self._pool = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode")
        self.decodes = 0
        # Spawn every worker now (the pool would otherwise start them one per first decode), so
        # their start-up overlaps the model's loading.
        self._started = [self._pool.submit(time.sleep, 0.05) for _ in range(workers)]

    def wait_until_started(self) -> None:
        """Block until every worker process is up (spawned, imports done); a one-off cost."""
        for future in self._started:
            future.result()

    def get(
        self, path: Path, protocol: Protocol, clip_s: tuple[float, float] | None = None
    ) -> tuple[VideoInput, float]:
        """The protocol frames of ``path`` (or of its clip) and their duration in seconds, decoded at most once."""
        return self._entry(path, protocol, clip_s).result()

    def prefetch(self, path: Path, protocol: Protocol, clip_s: tuple[float, float] | None = None) -> None:
        """Queue the decode of ``path`` (or of its clip) unless it is cached or being decoded."""
        self._entry(path, protocol, clip_s)

    def _entry(self, path: Path, protocol: Protocol, clip_s: tuple[float, float] | None = None) -> Future:
        key = (str(path), protocol, clip_s)
        with self._lock:
            if self._pool is None:
                raise RuntimeError("FrameCache is closed")
            future = self._entries.get(key)
            if future is None:
                self.decodes += 1
                future = self._pool.submit(video_input, path, protocol, clip_s)
                self._entries[key] = future
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_videos:
                self._entries.popitem(last=False)  # a holder of the future still gets its result
        return future

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FrameCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def group_by_video(records: Sequence[dict[str, Any]]) -> list[str]:
    """Record ids with each video's questions together (videos in order of first appearance)."""
    by_video: dict[str, list[str]] = {}
    for record in records:
        by_video.setdefault(str(record["video"]), []).append(record["id"])
    return [item for ids in by_video.values() for item in ids]


class RequestMaker:
    """Builds the request of a record id through a :class:`FrameCache`, prefetching what comes next.

    ``order`` is the order items will be asked for (:func:`group_by_video`). When an item comes
    up, its decode and those of the next ``lookahead`` distinct (video, clip) pairs are queued
    (default: the cache's ``parallelism``, so every decoder has a video ahead of the model; capped
    so the prefetched videos fit in the cache beside the current one).
    """

    def __init__(
        self,
        kind: str,
        records: Sequence[dict[str, Any]],
        lookup: VideoLookup,
        protocol: Protocol,
        cache: FrameCache,
        order: Sequence[str] | None = None,
        lookahead: int | None = None,
    ):
        self.kind, self.lookup, self.protocol, self.cache = kind, lookup, protocol, cache
        lookahead = cache.parallelism if lookahead is None else lookahead
        self.lookahead = max(0, min(lookahead, cache.max_videos - 1))
        self.by_id = {r["id"]: r for r in records}
        decodes = list(dict.fromkeys(self._decode_key(self.by_id[i]) for i in (order or list(self.by_id))))
        self._upcoming = {key: decodes[k : k + 1 + self.lookahead] for k, key in enumerate(decodes)}

    @staticmethod
    def _decode_key(record: dict[str, Any]) -> tuple[str, tuple[float, float] | None]:
        try:
            return str(record["video"]), record_clip(record)
        except ConfigError:
            return str(record["video"]), None  # reported when this record's request is made

    def _path(self, video: str) -> Path | None:
        try:
            return self.lookup.find(video)
        except VideoError:
            return None  # reported when that video's own question comes up

    def __call__(self, item_id: str) -> Request:
        record = self.by_id[item_id]
        for video, clip in self._upcoming.get(self._decode_key(record), []):
            if (path := self._path(video)) is not None:
                self.cache.prefetch(path, self.protocol, clip)
        return make_request(self.kind, record, self.lookup, self.protocol, self.cache)


def make_request(
    kind: str, record: dict[str, Any], lookup: VideoLookup, protocol: Protocol, cache: FrameCache | None = None
) -> Request:
    """The request of one record: ``kind`` is ``vqa`` (multiple choice) or ``vtg`` (grounding).

    With ``cache`` the video's frames are decoded once for all its questions.
    """
    path, clip = lookup.find(record["video"]), record_clip(record)
    video, duration = cache.get(path, protocol, clip) if cache is not None else video_input(path, protocol, clip)
    if kind == "vqa":
        prompt = VQA_PROMPT.format(question=record["question"])
        hints = {"task": "vqa", "options": options_of(record["question"])}
    else:
        prompt = VTG_PROMPT.format(question=record["question"])
        hints = {"task": "vtg", "duration_s": float(record.get("duration_s") or duration)}
    return Request(
        id=record["id"],
        user_text="<video>" + prompt,
        videos=(video,),
        max_new_tokens=protocol.max_new_tokens,
        hints=hints,
    )


def score_vqa(records: list[dict[str, Any]], responses: dict[str, dict[str, Any]], *, legacy: bool = False) -> dict:
    """Accuracy: the option letter parsed from the response equals the record's answer letter.

    ``unparsed_examples`` lists a few responses no letter was found in, so a user sees why.
    """
    items, unparsed = [], []
    for record in records:
        truth, options = vqa_ground_truth(record)
        entry = responses.get(record["id"])
        status, score = _status(entry)
        if status == "ok":
            letter = parse_option_letter(str(entry["response"]), "".join(options), options)
            status, score = ("unparsed", 0.0) if letter is None else ("ok", float(letter == truth))
            if letter is None:
                unparsed.append(_example(record, entry))
        items.append(ItemScore(record["id"], score, status, str(record.get("category", ""))))
    return {**summarize(items, legacy=legacy), "unparsed_examples": unparsed[:MAX_UNPARSED_EXAMPLES]}


def score_vtg(records: list[dict[str, Any]], responses: dict[str, dict[str, Any]], *, legacy: bool = False) -> dict:
    """mIoU and R@{0.3, 0.5, 0.7} of the parsed span against ``answer`` ("start - end" seconds).

    With several ground-truth windows the item's IoU is the best over them. ``unparsed_examples``
    lists a few responses no span was found in.
    """
    items, unparsed = [], []
    for record in records:
        truths = vtg_ground_truths(record)
        entry = responses.get(record["id"])
        status, score = _status(entry)
        if status == "ok":
            span = parse_time_span(str(entry["response"]))
            status, score = ("unparsed", 0.0) if span is None else ("ok", max(interval_iou(span, t) for t in truths))
            if span is None:
                unparsed.append(_example(record, entry))
        items.append(ItemScore(record["id"], score, status, str(record.get("category", ""))))
    return {**summarize(items, recall=True, legacy=legacy), "unparsed_examples": unparsed[:MAX_UNPARSED_EXAMPLES]}


def _example(record: dict[str, Any], entry: dict[str, Any]) -> dict[str, str]:
    text = str(entry["response"])
    # A degenerate response can be thousands of characters; the start shows what went wrong.
    return {"id": record["id"], "response": text if len(text) <= 300 else text[:300] + "…"}


def _status(entry: dict[str, Any] | None) -> tuple[str, float]:
    if entry is None:
        return "missing", 0.0
    if entry.get("error"):
        return "error", 0.0
    return "ok", 0.0
