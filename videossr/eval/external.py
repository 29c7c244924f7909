"""External video benchmarks in the unified record format: multiple-choice QA and grounding.

A benchmark file is a JSON list (or JSON Lines) of records::

    {"video": "fFjv93ACGo8", "question": "What is ... ?\\n(A) ...\\n(B) ...", "answer": "C"}
    {"video": "3MSZA", "question": "person turns a light on.", "answer": "24.3 - 30.4", "duration": 30.9}

optionally with ``id`` (default: the line number) and ``category`` (for a per-category breakdown).
Videos are looked up under ``--video-dir`` by id, with any common extension.

The paper's protocol (SPEC §7): frames at 2 fps, at most 32/48/64 of them, evenly spaced over the
whole video, at most 512x512 pixels, greedy decoding, no chain of thought. Frames are decoded
exactly (our decoder) and handed to the model with their true rate, so the model's clock is the
video's: a time ``t`` the model says is ``t`` seconds into the source video.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from videossr.errors import ConfigError, VideoError
from videossr.eval.backends.base import Request, VideoInput
from videossr.eval.metrics import ItemScore, summarize
from videossr.io import iter_jsonl, read_json
from videossr.rewards.grounding import interval_iou
from videossr.rewards.lenient import parse_option_letter, parse_time_span
from videossr.video.discovery import VIDEO_EXTENSIONS

VQA_PROMPT = "{question}\nAnswer with the option letter directly."
# lmms-eval's temporal grounding prompt, typo ("seonds") included, as the paper used it.
VTG_PROMPT = (
    "Please find the visual event described by a sentence in the video, determining its starting and ending "
    "times. The format should be: 'The event happens in the start time - end time'. For example, The event "
    "'person turn a light on' happens in the 24.3 - 30.4 seonds. Now I will give you the textual sentence: "
    "{question} Please return its start time and end time."
)
EVAL_FPS = 2.0
EVAL_MAX_PIXELS = 512 * 512
EVAL_MIN_PIXELS = 128 * 128
MIN_FRAMES = 4
FRAME_FACTOR = 2  # Qwen-VL merges frame pairs into one temporal patch


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
        raise ConfigError(f"{path} holds no records (expected a JSON list of {{video, question, answer}})")
    for number, record in enumerate(records):
        if not isinstance(record, dict) or not {"video", "question", "answer"} <= set(record):
            raise ConfigError(f"{path}: record {number} lacks video/question/answer: {str(record)[:120]}")
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


def eval_frame_indices(num_frames: int, native_fps: float, max_frames: int, fps: float = EVAL_FPS) -> list[int]:
    """Source frames of the protocol: ``fps`` frames per second, at most ``max_frames``, even count.

    Evenly spaced over the whole video (first and last frame included), as qwen-vl-utils does.
    """
    duration = num_frames / native_fps
    wanted = int(duration * fps) // FRAME_FACTOR * FRAME_FACTOR
    count = min(max(wanted, MIN_FRAMES), max_frames // FRAME_FACTOR * FRAME_FACTOR, num_frames)
    count = max(count, 1)
    return sorted(set(np.rint(np.linspace(0, num_frames - 1, count)).astype(int).tolist()))


@dataclass(frozen=True)
class Protocol:
    max_frames: int = 48
    max_pixels: int = EVAL_MAX_PIXELS
    min_pixels: int = EVAL_MIN_PIXELS
    fps: float = EVAL_FPS
    max_new_tokens: int = 128


def video_input(path: Path, protocol: Protocol) -> tuple[VideoInput, float]:
    """The decoded frames of ``path`` under ``protocol``, and the video's duration in seconds."""
    from videossr.video.decoder import decode_frames, probe_video

    probe = probe_video(path)
    native_fps = float(probe.native_fps)
    indices = eval_frame_indices(probe.num_frames, native_fps, protocol.max_frames, protocol.fps)
    frames = tuple(
        d.image for d in decode_frames(probe, indices, max_pixels=protocol.max_pixels, pixel_format="rgb24")
    )
    times = [probe.frame_time_s(i) for i in indices]
    # The true rate of these frames: frame i is then stamped at the source time of indices[i].
    sample_fps = (len(indices) - 1) / (times[-1] - times[0]) if len(indices) > 1 and times[-1] > times[0] else native_fps
    duration = probe.num_frames / native_fps
    return VideoInput(frames, sample_fps, protocol.max_pixels, protocol.min_pixels), duration


def options_of(question: str) -> str:
    """Option letters offered in a multiple-choice question ("(A) ...", "A. ...", "A) ..."); ABCD if none."""
    letters = re.findall(r"(?:^|\n)\s*\(?([A-J])[.)]", question)
    return "".join(dict.fromkeys(letters)) or "ABCD"


def make_request(kind: str, record: dict[str, Any], lookup: VideoLookup, protocol: Protocol) -> Request:
    """The request of one record: ``kind`` is ``vqa`` (multiple choice) or ``vtg`` (grounding)."""
    video, duration = video_input(lookup.find(record["video"]), protocol)
    if kind == "vqa":
        prompt = VQA_PROMPT.format(question=record["question"])
        hints = {"task": "vqa", "options": options_of(record["question"])}
    else:
        prompt = VTG_PROMPT.format(question=record["question"])
        hints = {"task": "vtg", "duration_s": float(record.get("duration") or duration)}
    return Request(
        id=record["id"],
        user_text="<video>" + prompt,
        videos=(video,),
        max_new_tokens=protocol.max_new_tokens,
        hints=hints,
    )


def score_vqa(records: list[dict[str, Any]], responses: dict[str, dict[str, Any]], *, legacy: bool = False) -> dict:
    """Accuracy: the option letter parsed from the answer equals the record's answer letter."""
    items = []
    for record in records:
        entry = responses.get(record["id"])
        status, score = _status(entry)
        if status == "ok":
            letter = parse_option_letter(str(entry["response"]), options_of(record["question"]))
            truth = str(record["answer"]).strip().upper()[:1]
            status, score = ("unparsed", 0.0) if letter is None else ("ok", float(letter == truth))
        items.append(ItemScore(record["id"], score, status, str(record.get("category", ""))))
    return summarize(items, legacy=legacy)


def score_vtg(records: list[dict[str, Any]], responses: dict[str, dict[str, Any]], *, legacy: bool = False) -> dict:
    """mIoU and R@{0.3, 0.5, 0.7} of the parsed span against ``answer`` ("start - end" seconds)."""
    items = []
    for record in records:
        truth = parse_time_span(str(record["answer"]))
        if truth is None:
            raise ConfigError(f"record {record['id']}: answer {record['answer']!r} is not 'start - end' in seconds")
        entry = responses.get(record["id"])
        status, score = _status(entry)
        if status == "ok":
            span = parse_time_span(str(entry["response"]))
            status, score = ("unparsed", 0.0) if span is None else ("ok", interval_iou(span, truth))
        items.append(ItemScore(record["id"], score, status, str(record.get("category", ""))))
    return summarize(items, recall=True, legacy=legacy)


def _status(entry: dict[str, Any] | None) -> tuple[str, float]:
    if entry is None:
        return "missing", 0.0
    if entry.get("error"):
        return "error", 0.0
    return "ok", 0.0
