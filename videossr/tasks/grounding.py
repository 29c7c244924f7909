"""Anomaly Grounding: perturb a contiguous run of frames; the answer is its time interval.

Segment length ``t`` is uniform in 8..16 frames, its start uniform over the positions the
perturbation allows (``0 .. num_frames - t`` for all but StutterHold and Fast; see
``perturbations.py``). The ground truth is ``"{s/fps:.1f}-{(s+t)/fps:.1f}"`` on the model's clock.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from videossr.errors import VideoError
from videossr.frames.folder import VideoFrames
from videossr.rewards import grounding as grounding_reward
from videossr.tasks import GROUNDING
from videossr.tasks.ground_truths import grounding_truth
from videossr.tasks.perturbations import (
    PERTURBATIONS,
    VIUBENCH_PERTURBATIONS,
    Perturbation,
    SegmentContext,
    SourceDecoder,
    get_perturbation,
)
from videossr.tasks.prompts import GROUNDING_TEMPLATE, SPEED_NOTE, single_video_user_message
from videossr.tasks.registry import BenchmarkSubtype, PretextTask, TaskScorer, register_task
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
        raise VideoError(
            f"grounding needs more than {MAX_SEGMENT_FRAMES + perturbation.min_start} frames, has {num_frames}"
        )
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
        ground_truth=grounding_truth(start, start + length, video.sample_fps),
        sample_fps=video.sample_fps,
        info={"perturbation": perturbation.name, "start_frame_pos": start, "num_perturbed_frames": length},
        params=params,
    )


def decode_source_frames(video: VideoFrames, frame_indices: list[int], size: tuple[int, int]) -> list:
    """Frames of the source video at ``frame_indices``, at the stored frames' ``size`` (w, h) (Slow, Fast)."""
    import cv2

    from videossr.video.decoder import decode_frames, probe_video

    source = video.record.get("source")
    if not source or not Path(source).is_file():
        raise VideoError(f"source video not found: {source} (Slow and Fast decode it)")
    probe = probe_video(source)
    if probe.num_frames != int(video.record["num_source_frames"]):
        raise VideoError(
            f"source video changed since sampling: {probe.num_frames} frames, record says "
            f"{video.record['num_source_frames']}"
        )
    width, height = size
    images = []
    for decoded in decode_frames(probe, frame_indices, max_pixels=width * height):
        image = decoded.image
        if (image.shape[1], image.shape[0]) != (width, height):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        images.append(image)
    return images


class GroundingTask(PretextTask):
    """Anomaly Grounding: one variant per perturbation (``ChannelSwap``, ...; key ``grounding/channelswap``)."""

    name = GROUNDING
    example_ground_truth = "12.3-20.1"
    reward = TaskScorer(
        parse_truth=grounding_reward.parse_ground_truth_interval,
        parse=lambda response, truth: grounding_reward.parse_interval(response),
        smooth=grounding_reward.interval_iou,
        strict=grounding_reward.is_exact_interval,
    )
    benchmark_subtypes = tuple(BenchmarkSubtype(name, f"Grounding {name}") for name in VIUBENCH_PERTURBATIONS)

    def variants(self) -> tuple[str, ...]:
        return tuple(PERTURBATIONS)

    def canonical_variant(self, text: str) -> str:
        return get_perturbation(text).name

    def variant_of_row(self, extra) -> str:
        return str(extra["perturbation"])

    def needs_partner(self, variant: str) -> bool:
        return get_perturbation(variant).needs_partner

    def make_sample(self, video, variant, rng, *, partner=None, **options) -> Sample:
        perturbation = get_perturbation(variant)
        decode_source = decode_source_frames if perturbation.needs_source else None
        return make_grounding_sample(video, perturbation, rng, partner=partner, decode_source=decode_source)

    def benchmark_hints(self, variant, row) -> dict:
        video = row["videos"][0]
        return {"task": self.name, "duration_s": len(video["video"]) / video["sample_fps"]}

    def benchmark_score(self, response: str, ground_truth: str) -> tuple[float, str | None]:
        interval = grounding_reward.parse_interval(response)
        if interval is None:
            return 0.0, None
        truth = grounding_reward.parse_ground_truth_interval(ground_truth)
        return grounding_reward.interval_iou(interval, truth), f"{interval[0]:g}-{interval[1]:g}"

    def random_answer(self, hints, rng) -> str:
        # The whole video: ~25 mean IoU, the paper's random row (a random interval scores ~20).
        return f"0.0-{hints['duration_s']:.1f}"

    def preview_mark(self, row, video_pos, position, thumb, scale):
        from videossr.report.preview import RED, mark_border

        extra = row["extra_info"]
        if extra["start_frame_pos"] <= position < extra["start_frame_pos"] + extra["num_perturbed_frames"]:
            mark_border(thumb, RED, 4)
            return RED
        return None

    def report_plots(self, rows) -> list[str]:
        from collections import Counter

        from videossr.report.html import PALETTE, svg_columns

        extras = [r["extra_info"] for r in rows]
        lengths = Counter(int(e["num_perturbed_frames"]) for e in extras)
        low, high = min(lengths), max(lengths)
        starts = Counter(int(e["start_frame_pos"]) // 4 * 4 for e in extras)
        return [
            svg_columns(
                [str(k) for k in range(low, high + 1)],
                [lengths.get(k, 0) for k in range(low, high + 1)],
                title="grounding: segment length (frames)",
                color=PALETTE[2],
            ),
            svg_columns(
                [str(k) for k in range(0, 44, 4)],
                [starts.get(k, 0) for k in range(0, 44, 4)],
                title="grounding: segment start (frame, bins of 4)",
                color=PALETTE[2],
            ),
        ]


TASK = register_task(GroundingTask())
