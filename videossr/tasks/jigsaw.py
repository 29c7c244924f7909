"""Temporal Jigsaw: cut the frames into n equal clips, show them shuffled as n separate videos.

Each clip is its own ``<video>`` input, so its timestamps restart at 0 and cannot leak the order.
The answer's ``k``-th digit is the 1-based position at which original clip ``k`` is shown.
"""

from __future__ import annotations

import numpy as np

from videossr.errors import ConfigError, VideoError
from videossr.tasks import JIGSAW
from videossr.tasks.answers import jigsaw_answer
from videossr.tasks.frames import VideoFrames
from videossr.tasks.prompts import JIGSAW_QUESTIONS, jigsaw_user_message
from videossr.tasks.sample import Sample

SUPPORTED_NUM_CLIPS = tuple(sorted(JIGSAW_QUESTIONS))


def make_jigsaw_sample(video: VideoFrames, num_clips: int, rng: np.random.Generator) -> Sample:
    """One jigsaw sample of ``video`` with ``num_clips`` clips (6: easy, 8: hard).

    Raises:
        ConfigError: unsupported ``num_clips``.
        VideoError: the frame count is not a multiple of ``num_clips``.
    """
    if num_clips not in JIGSAW_QUESTIONS:
        raise ConfigError(f"--num-clips must be one of {SUPPORTED_NUM_CLIPS}, got {num_clips}")
    if video.num_frames % num_clips:
        raise VideoError(f"{video.num_frames} frames do not split into {num_clips} equal clips")
    clip_length = video.num_frames // num_clips
    clip_order = [int(c) for c in rng.permutation(num_clips)]
    clips = [[video.path(c * clip_length + i) for i in range(clip_length)] for c in clip_order]
    return Sample(
        task=JIGSAW,
        video_id=video.video_id,
        videos=clips,
        user_message=jigsaw_user_message(num_clips),
        ground_truth=jigsaw_answer(clip_order),
        sample_fps=video.sample_fps,
        info={"num_clips": num_clips, "clip_order": clip_order},
    )
