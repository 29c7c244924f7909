"""Temporal Jigsaw: cut the frames into n equal clips, show them shuffled as n separate videos.

Each clip is its own ``<video>`` input, so its timestamps restart at 0 and cannot leak the order.
The answer's ``k``-th digit is the 1-based position at which original clip ``k`` is shown.
"""

from __future__ import annotations

import numpy as np

from videossr.errors import ConfigError, VideoError
from videossr.frames.folder import VideoFrames
from videossr.rewards import jigsaw as jigsaw_reward
from videossr.tasks import JIGSAW
from videossr.tasks.ground_truths import jigsaw_truth
from videossr.tasks.prompts import JIGSAW_QUESTIONS, jigsaw_user_message
from videossr.tasks.registry import BenchmarkSubtype, PretextTask, TaskScorer, register_task
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
        ground_truth=jigsaw_truth(clip_order),
        sample_fps=video.sample_fps,
        info={"num_clips": num_clips, "clip_order": clip_order},
    )


class JigsawTask(PretextTask):
    """Temporal Jigsaw: variants ``6`` (key ``jigsaw/6``) and ``8`` (``jigsaw/8``), the number of clips."""

    name = JIGSAW
    aliases = ("shuffled",)  # the released jigsaw builder's data_source
    default_variant = "6"
    example_ground_truth = "341562"
    reward = TaskScorer(
        parse_truth=jigsaw_reward.parse_ground_truth_order,
        parse=lambda response, truth: jigsaw_reward.parse_order(response, len(truth)),
        smooth=jigsaw_reward.order_score,
        strict=lambda answer, truth: answer == truth,
    )
    benchmark_subtypes = (
        BenchmarkSubtype("6", "Jigsaw Easy (6 clips)"),
        BenchmarkSubtype("8", "Jigsaw Hard (8 clips)"),
    )

    def variants(self) -> tuple[str, ...]:
        return tuple(str(n) for n in SUPPORTED_NUM_CLIPS)

    def canonical_variant(self, text: str) -> str:
        if str(text).strip() not in self.variants():
            raise ConfigError(f"--num-clips must be one of {SUPPORTED_NUM_CLIPS}, got {text}")
        return str(text).strip()

    def variant_of_row(self, extra) -> str:
        return str(extra["num_clips"])

    def variant_label(self, extra) -> str:
        return f"{extra.get('num_clips')} clips"

    def make_sample(self, video, variant, rng, *, partner=None, **options) -> Sample:
        return make_jigsaw_sample(video, int(variant), rng)

    def benchmark_hints(self, variant, row) -> dict:
        return {"task": self.name, "num_clips": int(variant)}

    def benchmark_score(self, response: str, ground_truth: str) -> tuple[float, str | None]:
        order = jigsaw_reward.parse_order(response, len(ground_truth))
        if order is None:
            return 0.0, None
        return (1.0 if order == jigsaw_reward.parse_ground_truth_order(ground_truth) else 0.0), order

    def random_answer(self, hints, rng) -> str:
        # A uniformly random order: 1/720 and 1/40,320 exact, the paper's 0.1 / 0.0.
        return "".join(str(int(k) + 1) for k in rng.permutation(hints["num_clips"]))

    def preview_caption(self, row, video_pos: int) -> str | None:
        return f"Clip {video_pos + 1} (original clip {row['extra_info']['clip_order'][video_pos] + 1})"

    def report_plots(self, rows) -> list[str]:
        from videossr.report.html import svg_heatmap

        plots = []
        for num_clips in sorted({int(r["extra_info"]["num_clips"]) for r in rows}):
            matrix = [[0] * num_clips for _ in range(num_clips)]
            for row in rows:
                order = row["extra_info"]["clip_order"]
                if len(order) == num_clips:
                    for position, original in enumerate(order):
                        matrix[int(original)][position] += 1
            plots.append(
                svg_heatmap(
                    matrix,
                    [f"clip {k + 1}" for k in range(num_clips)],
                    [str(k + 1) for k in range(num_clips)],
                    title=f"jigsaw {num_clips}: original clip (rows) x shown position",
                )
            )
        return plots


TASK = register_task(JigsawTask())
