"""Which source frames a video is reduced to, and on what clock the model sees them.

Pure arithmetic on frame counts and timestamps: nothing here opens a file.

VideoSSR reduces every source video to ``num_frames`` (48) frames evenly spaced over its central
90 %. The released code computes, for a video of ``N`` frames::

    start = int(0.05 * N); end = int(0.95 * N); step = (end - start) // num_frames
    frame i = start + i * step            for i in 0 .. num_frames - 1

and skips videos whose window ``[start, end)`` holds fewer than ``num_frames`` frames. We keep
that arithmetic bit for bit (the same float expressions), so a frame folder made here and one
made by the released code pick the same source frames.

The model sees time only through ``sample_fps``: frame ``i`` is stamped ``i / sample_fps``
seconds. The released code declared ``sample_fps = num_frames / duration``, about 10 % off the
true spacing of the frames (they span 90 % of the video, with a floored step). Here
``sample_fps = native_fps / step``, the true rate of the sampled frames, and ``start_s`` keeps the
source time of frame 0, so a time ``t`` on the model's clock is ``start_s + t`` in the source
video (exactly so for constant-frame-rate video; ``frame_times_s`` holds the true source time of
every sampled frame for variable-frame-rate video).

Evaluation on external benchmarks samples differently, as the paper's protocol and qwen-vl-utils
do (:func:`eval_frame_indices`): ``fps`` frames per second of the whole video (or of a clip,
:func:`clip_frame_range`), at most ``max_frames``, an even count; those frames are shown at their
true average rate (:func:`rate_of_times`). Both ways of picking frames, and both clocks, live here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from videossr.errors import ConfigError, VideoError

DEFAULT_NUM_FRAMES = 48
EVAL_FPS = 2.0
MIN_FRAMES = 4
FRAME_FACTOR = 2  # Qwen-VL merges frame pairs into one temporal patch


@dataclass(frozen=True)
class SamplingPlan:
    """The source frames picked from one video.

    Attributes:
        frame_indices: source frame numbers (0-based, presentation order), strictly increasing.
        step: spacing between consecutive picked frames, in source frames (>= 1).
        window_start_idx: first source frame of the central window (``int(0.05 * N)``).
        window_end_idx: end of the central window, exclusive (``int(0.95 * N)``).
    """

    frame_indices: tuple[int, ...]
    step: int
    window_start_idx: int
    window_end_idx: int


def plan_central_sampling(num_source_frames: int, num_frames: int = DEFAULT_NUM_FRAMES) -> SamplingPlan:
    """Pick ``num_frames`` evenly spaced frames over the central 90 % of a video.

    Args:
        num_source_frames: number of decodable frames of the source video.
        num_frames: how many frames to pick (48 in the paper).

    Raises:
        ConfigError: ``num_frames`` < 1.
        VideoError: the central window holds fewer than ``num_frames`` frames ("too short").
    """
    if num_frames < 1:
        raise ConfigError(f"num_frames must be >= 1, got {num_frames}")
    # The same float expressions as the released code, so rounding matches it for every N.
    start = int(num_source_frames * 0.05)
    end = int(num_source_frames * 0.95)
    window = end - start
    if window < num_frames:
        raise VideoError(
            f"too short: {num_source_frames} frames, whose central 90% holds {max(window, 0)} < {num_frames} needed"
        )
    step = window // num_frames
    return SamplingPlan(
        frame_indices=tuple(start + i * step for i in range(num_frames)),
        step=step,
        window_start_idx=start,
        window_end_idx=end,
    )


def sample_fps_of(native_fps: Fraction | float, step: int) -> float:
    """True playback rate of frames picked every ``step`` source frames, in frames per second."""
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    return float(Fraction(native_fps) / step)


def model_time_s(frame_pos: int, sample_fps: float) -> float:
    """When the model sees sampled frame ``frame_pos`` (a position among the sampled frames), in seconds."""
    return frame_pos / sample_fps


# ----------------------------------------------------------------------------- evaluation protocol


def eval_frame_indices(num_frames: int, native_fps: float, max_frames: int, fps: float = EVAL_FPS) -> list[int]:
    """Source frames of the protocol: ``fps`` frames per second, at most ``max_frames``, even count.

    Evenly spaced over the whole video (first and last frame included), as qwen-vl-utils does.
    """
    duration = num_frames / native_fps
    wanted = int(duration * fps) // FRAME_FACTOR * FRAME_FACTOR
    count = min(max(wanted, MIN_FRAMES), max_frames // FRAME_FACTOR * FRAME_FACTOR, num_frames)
    count = max(count, 1)
    return sorted(set(np.rint(np.linspace(0, num_frames - 1, count)).astype(int).tolist()))


def clip_frame_range(num_frames: int, native_fps: float, clip_s: tuple[float, float] | None) -> tuple[int, int]:
    """Source frames ``[first, last]`` (inclusive) of a clip ``(start_s, end_s)``; the whole video if None.

    A clip past the end is cut to the video; one shorter than a frame keeps the frame at its start.
    """
    if clip_s is None:
        return 0, num_frames - 1
    first = min(max(int(math.ceil(clip_s[0] * native_fps - 1e-6)), 0), num_frames - 1)
    end_idx = clip_s[1] * native_fps
    last = num_frames - 1 if not math.isfinite(end_idx) else min(int(math.floor(end_idx + 1e-6)), num_frames - 1)
    return first, max(first, last)


def rate_of_times(times_s: Sequence[float], fallback_fps: float) -> float:
    """The true average rate of frames at these source times (frames per second).

    Frame ``i`` is then stamped near its source time. One frame, or frames with no time between
    them, give ``fallback_fps`` (the video's native rate).
    """
    if len(times_s) > 1 and times_s[-1] > times_s[0]:
        return (len(times_s) - 1) / (times_s[-1] - times_s[0])
    return float(fallback_fps)
