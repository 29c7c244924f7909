"""What every backend takes and returns, and the Qwen-VL message building they share.

A :class:`Request` is one prompt: an optional system message, a user text whose ``<video>``
placeholders mark where each :class:`VideoInput` goes (the same convention as the training rows
and verl's dataset), and a token budget. Decoding is always greedy. A backend returns one
:class:`Generation` per request, in order; a request that fails carries ``error`` instead of
failing the batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

VIDEO_PLACEHOLDER = "<video>"


@dataclass(frozen=True)
class VideoInput:
    """One video of a prompt.

    Attributes:
        frames: JPEG paths, or ``(H, W, 3)`` uint8 RGB arrays, in playback order.
        sample_fps: rate at which the frames play: the model stamps frame ``i`` at ``i / sample_fps`` s.
        max_pixels, min_pixels: Qwen-VL's per-frame pixel budget.
    """

    frames: tuple[Any, ...]
    sample_fps: float
    max_pixels: int
    min_pixels: int


def video_input_of(entry: dict[str, Any]) -> VideoInput:
    """The :class:`VideoInput` of a row's or record's ``videos`` entry
    (``{"video": [frame paths], "sample_fps", "max_pixels", "min_pixels"}``)."""
    return VideoInput(
        tuple(entry["video"]), float(entry["sample_fps"]), int(entry["max_pixels"]), int(entry["min_pixels"])
    )


@dataclass(frozen=True)
class Request:
    """One prompt to answer."""

    id: str
    user_text: str
    videos: tuple[VideoInput, ...]
    system: str | None = None
    max_new_tokens: int = 64
    #: What a model-free baseline may know about the item (task, number of clips, duration, options).
    hints: dict[str, Any] = field(default_factory=dict)


@dataclass
class Generation:
    """A backend's answer to one request: ``response`` text, or ``error`` when it failed."""

    id: str
    response: str = ""
    error: str | None = None
    wall_s: float = 0.0  # time the backend spent on this item (a batch's time shared out)
    meta: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """One generation per request, in the same order. Never raises for one bad request."""
        ...

    def close(self) -> None:
        """Release models and processes."""
        ...


def request_of_row(row: dict[str, Any], request_id: str, max_new_tokens: int = 64) -> Request:
    """The request of a verl training row: its system and user messages, its videos (same text, frames)."""
    system = next((m["content"] for m in row["prompt"] if m["role"] == "system"), None)
    user = next(m["content"] for m in row["prompt"] if m["role"] == "user")
    videos = tuple(video_input_of(v) for v in row["videos"])
    return Request(id=request_id, user_text=user, videos=videos, system=system, max_new_tokens=max_new_tokens)


def build_messages(request: Request) -> list[dict[str, Any]]:
    """Qwen-VL chat messages of ``request``, exactly as verl's ``RLHFDataset`` builds them.

    The user text is split at ``<video>`` placeholders; text pieces are kept verbatim (a leading
    newline included) and empty pieces dropped, so evaluation prompts are token-for-token the
    training prompts.

    Raises:
        ValueError: the number of placeholders differs from the number of videos.
    """
    pieces = [p for p in re.split(f"({re.escape(VIDEO_PLACEHOLDER)})", request.user_text) if p != ""]
    if sum(p == VIDEO_PLACEHOLDER for p in pieces) != len(request.videos):
        raise ValueError(
            f"request {request.id}: {request.user_text.count(VIDEO_PLACEHOLDER)} <video> placeholders "
            f"for {len(request.videos)} videos"
        )
    videos = iter(request.videos)
    content: list[dict[str, Any]] = []
    for piece in pieces:
        if piece == VIDEO_PLACEHOLDER:
            video = next(videos)
            content.append(
                {
                    "type": "video",
                    "video": [_frame_for_qwen(f) for f in video.frames],
                    "sample_fps": float(video.sample_fps),
                    "max_pixels": int(video.max_pixels),
                    "min_pixels": int(video.min_pixels),
                }
            )
        else:
            content.append({"type": "text", "text": piece})
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.append({"role": "user", "content": content})
    return messages


def _frame_for_qwen(frame: Any) -> Any:
    """qwen-vl-utils reads paths or PIL images; arrays become PIL images."""
    if isinstance(frame, np.ndarray):
        from PIL import Image

        return Image.fromarray(frame)
    return str(frame)


def vision_inputs(messages: list[dict[str, Any]], image_patch_size: int):
    """``(images, videos)`` as verl's agent loop extracts them: videos as ``(tensor, metadata)``."""
    from qwen_vl_utils import process_vision_info

    return process_vision_info(messages, image_patch_size=image_patch_size, return_video_metadata=True)
