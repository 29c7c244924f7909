"""What a task generator returns for one video: frames per ``<video>`` placeholder, text, truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from videossr.tasks.perturbations import FrameOut


@dataclass
class Sample:
    """One pretext-task sample, before its new frames are written to disk.

    Attributes:
        task: ``grounding``, ``counting`` or ``jigsaw``.
        video_id: the source video.
        videos: one frame list per ``<video>`` placeholder of ``user_message``, in order; a frame
            is an existing JPEG path or a new BGR array to encode.
        user_message: the user turn, with ``<video>`` placeholders.
        ground_truth: the answer string the reward compares against.
        sample_fps: playback rate of every frame list (the model's clock).
        info: task-specific ``extra_info`` fields (typed columns of the row schema).
        params: every drawn parameter, JSON-able, enough to re-derive and check the sample.
    """

    task: str
    video_id: str
    videos: list[list[FrameOut]]
    user_message: str
    ground_truth: str
    sample_fps: float
    info: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
