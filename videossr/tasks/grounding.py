"""Anomaly Grounding: perturb a contiguous run of frames; the answer is its time interval.

Segment length ``t`` is uniform in 8..16 frames, its start uniform over the positions the
perturbation allows (``0 .. num_frames - t`` for all but StutterHold and Fast; see
``perturbations.py``). The ground truth is ``"{s/fps:.1f}-{(s+t)/fps:.1f}"`` on the model's clock.
"""

from __future__ import annotations

import numpy as np

from videossr.errors import VideoError
from videossr.tasks import GROUNDING
from videossr.tasks.answers import grounding_answer
from videossr.tasks.frames import VideoFrames
from videossr.tasks.perturbations import Perturbation, SegmentContext, SourceDecoder
from videossr.tasks.prompts import GROUNDING_TEMPLATE, SPEED_NOTE, single_video_user_message
from videossr.tasks.sample import Sample

MIN_SEGMENT_FRAMES = 8
MAX_SEGMENT_FRAMES = 16


def grounding_question(perturbation: Perturbation) -> str:
    """The question of a perturbation; Slow and Fast carry the paper's speed note after the description."""
    speed_note = f" {SPEED_NOTE}" if perturbation.changes_speed else ""
    return GROUNDING_TEMPLATE.format(description=perturbation.description, speed_note=speed_note)


def make_grounding_sample(
    video: VideoFrames,
    perturbation: Perturbation,
    rng: np.random.Generator,
    *,
    partner: VideoFrames | None = None,
    decode_source: SourceDecoder | None = None,
) -> Sample:
    """One grounding sample of ``video`` under ``perturbation``.

    Args:
        partner: the other video Swap takes frames from (chosen by the caller).
        decode_source: decodes source-video frames, for Slow and Fast.

    Raises:
        VideoError: the video cannot carry this perturbation (too few frames, no partner, ...).
    """
    num_frames = video.num_frames
    if num_frames < MAX_SEGMENT_FRAMES + perturbation.min_start + 1:
        raise VideoError(f"grounding needs more than {MAX_SEGMENT_FRAMES + perturbation.min_start} frames, has {num_frames}")
    length = int(rng.integers(MIN_SEGMENT_FRAMES, MAX_SEGMENT_FRAMES + 1))
    params = perturbation.draw_params(rng, video, length)
    low, high = perturbation.start_range(num_frames, length, params, video)
    if high < low:
        raise VideoError(f"{perturbation.name}: no valid segment start for {length} frames")
    start = int(rng.integers(low, high + 1))

    if perturbation.needs_partner and (partner is None or partner.video_id == video.video_id):
        raise VideoError(f"{perturbation.name} needs a second video in the frames folder")
    context = SegmentContext(video, start, length, partner=partner, decode_source=decode_source)
    segment = perturbation.apply(context, params, rng)
    if len(segment) != length:
        raise AssertionError(f"{perturbation.name} returned {len(segment)} frames for a {length}-frame segment")
    frames = [video.path(i) for i in range(start)] + segment
    frames += [video.path(i) for i in range(start + length, num_frames)]
    return Sample(
        task=GROUNDING,
        video_id=video.video_id,
        videos=[frames],
        user_message=single_video_user_message(grounding_question(perturbation)),
        ground_truth=grounding_answer(start, start + length, video.sample_fps),
        sample_fps=video.sample_fps,
        info={"perturbation": perturbation.name, "start_frame_idx": start, "num_perturbed_frames": length},
        params=params,
    )
