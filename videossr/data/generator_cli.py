"""What the pretext-task scripts share: their common flags, video selection, and the summary.

``pretext_tasks/{grounding,counting,jigsaw}.py`` each add their own flag (perturbation,
difficulty, number of clips) to :class:`GeneratorConfig` and call :func:`run_generator_script`;
the scripts that make counting data add ``--placement`` with :class:`PlacementOption`.
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
from videossr.parallel import RayOptions, available_cpus
from videossr.tasks.counting import DEFAULT_PLACEMENT, PLACEMENTS
from videossr.tasks.rows import TRAIN_MAX_PIXELS, TRAIN_MIN_PIXELS


def placement_field():
    """The ``--placement`` flag of the scripts that make counting data."""
    return field(
        default=DEFAULT_PLACEMENT,
        metadata={
            "help": "counting shapes: separate (never overlap; the default) or released (the released "
            "code's rule, overlaps included, for exact reproduction)",
            "choices": list(PLACEMENTS),
        },
    )


@dataclass
class PlacementOption:
    """Mixin of a :class:`GeneratorConfig` that makes counting data: adds ``--placement``."""

    placement: str = placement_field()

    def settings(self) -> GenerationSettings:
        return replace(super().settings(), counting_placement=self.placement)  # type: ignore[misc]


@dataclass
class GeneratorConfig(RayOptions):
    """Flags every generator script takes."""

    frames_dir: Path | None = field(
        default=None, metadata={"help": "frames folder made by sample_frames.py (read only)", "required": True}
    )
    output_dir: Path | None = field(default=None, metadata={"help": "folder for data files", "required": True})
    seed: int = field(default=0, metadata={"help": "run seed; each sample's seed derives from it and its video id"})
    start: int = field(default=0, metadata={"help": "first video (position in the sorted frames index)"})
    end: int | None = field(default=None, metadata={"help": "end of the video range, exclusive (default: all)"})
    limit: int | None = field(default=None, metadata={"help": "at most this many videos (after --start/--end)"})
    split: str = field(default="train", metadata={"help": "split name stored in extra_info"})
    max_pixels: int = field(
        default=TRAIN_MAX_PIXELS, metadata={"help": "Qwen-VL max pixels per frame, stored in each row"}
    )
    min_pixels: int = field(
        default=TRAIN_MIN_PIXELS, metadata={"help": "Qwen-VL min pixels per frame, stored in each row"}
    )
    jpeg_quality: int = field(default=DEFAULT_JPEG_QUALITY, metadata={"help": "JPEG quality of changed frames"})
    workers: int = field(default_factory=available_cpus, metadata={"help": "parallel worker processes"})

    def validate(self) -> None:
        if self.frames_dir is None or self.output_dir is None:
            raise ConfigError("--frames-dir and --output-dir are required")
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
