"""What the pretext-task scripts share: their common flags, video selection, and the summary.

``pretext_tasks/{grounding,counting,jigsaw}.py`` each add their own flag (perturbation,
difficulty, number of clips) to :func:`add_generator_flags` and their field to
:class:`GeneratorConfig`, then call :func:`run_generator_script`; the scripts that make counting
data add ``--placement`` (:func:`add_placement_flag`, :class:`PlacementOption`).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from videossr.cli import config_to_dict, fail, progress_bar
from videossr.data.generation import GenerationSettings, OutputSpec, generate_files, select_records
from videossr.errors import ConfigError
from videossr.frames.folder import load_index
from videossr.imaging import DEFAULT_JPEG_QUALITY
from videossr.parallel import RayOptions, add_ray_flags, add_workers_flag, available_cpus
from videossr.tasks.counting import DEFAULT_PLACEMENT, PLACEMENTS
from videossr.tasks.rows import TRAIN_MAX_PIXELS, TRAIN_MIN_PIXELS


@dataclass(kw_only=True)
class PlacementOption:
    """Mixin of a :class:`GeneratorConfig` that makes counting data: adds ``placement``."""

    placement: str = DEFAULT_PLACEMENT

    def settings(self) -> GenerationSettings:
        return replace(super().settings(), counting_placement=self.placement)  # type: ignore[misc]


def add_placement_flag(parser) -> None:
    """``--placement`` of the scripts that make counting data."""
    parser.add_argument(
        "--placement",
        choices=list(PLACEMENTS),
        help="counting shapes: separate (never overlap; the default) or released (the released "
        "code's rule, overlaps included, for exact reproduction)",
    )


@dataclass(kw_only=True)
class GeneratorConfig(RayOptions):
    """What every generator script takes (:func:`add_generator_flags` makes their flags)."""

    frames_dir: Path  # frames folder made by sample_frames.py (read only)
    output_dir: Path  # folder for data files
    seed: int = 0
    start: int = 0
    end: int | None = None
    limit: int | None = None
    split: str = "train"
    max_pixels: int = TRAIN_MAX_PIXELS
    min_pixels: int = TRAIN_MIN_PIXELS
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    workers: int = field(default_factory=available_cpus)

    def validate(self) -> None:
        if self.start < 0:
            raise ConfigError(f"--start must be >= 0, got {self.start}")
        if self.end is not None and self.end <= self.start:
            raise ConfigError(f"--end must be greater than --start ({self.start}), got {self.end}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {self.limit}")
        if self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")
        self.settings().validate()

    def settings(self) -> GenerationSettings:
        return GenerationSettings(
            seed=self.seed,
            split=self.split,
            max_pixels=self.max_pixels,
            min_pixels=self.min_pixels,
            jpeg_quality=self.jpeg_quality,
        )


def add_generator_flags(parser) -> None:
    """The flags of :class:`GeneratorConfig` (a script adds its own task's flag after them)."""
    parser.add_argument(
        "--frames-dir", type=Path, required=True, help="frames folder made by sample_frames.py (read only)"
    )
    parser.add_argument("--output-dir", type=Path, required=True, help="folder for data files")
    parser.add_argument("--seed", type=int, help="run seed; each sample's seed derives from it and its video id")
    parser.add_argument("--start", type=int, help="first video (position in the sorted frames index)")
    parser.add_argument("--end", type=int, help="end of the video range, exclusive (default: all)")
    parser.add_argument("--limit", type=int, help="at most this many videos (after --start/--end)")
    parser.add_argument("--split", help="split name stored in extra_info")
    parser.add_argument("--max-pixels", type=int, help="Qwen-VL max pixels per frame, stored in each row")
    parser.add_argument("--min-pixels", type=int, help="Qwen-VL min pixels per frame, stored in each row")
    parser.add_argument("--jpeg-quality", type=int, help="JPEG quality of changed frames")
    add_workers_flag(parser)
    add_ray_flags(parser)


def run_generator_script(config: GeneratorConfig, specs: list[OutputSpec], prog: str) -> int:
    """Generate ``specs`` over the selected videos; print one summary line per file."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        records = select_records(load_index(config.frames_dir), config.start, config.end, config.limit)
        if not records:
            raise ConfigError(f"no videos selected from {config.frames_dir} (check --start/--end/--limit)")
        video_ids = [r["video_id"] for r in records]
        summaries = generate_files(
            config.frames_dir,
            config.output_dir,
            [(spec, video_ids) for spec in specs],
            config.settings(),
            workers=config.workers,
            ray_address=config.ray_target(),
            config_for_manifest=config_to_dict(config),
            progress=progress_bar("generating", "sample"),
        )
    except (ConfigError, ConnectionError) as exc:
        fail(str(exc), prog)
    for summary in summaries:
        print(summary.one_line())
        for failed in summary.failed[:5]:
            print(f"  failed {failed['video_id']}: {failed['reason']}", file=sys.stderr)
    return 0
