"""Build the whole VideoSSR training mix from a frames folder in one go.

Writes exactly the files ``train/train.sh`` reads, one per variant key: ``grounding/channelswap``,
``grounding/mirror``, ``grounding/zoomout``, ``grounding/rotate180`` (Anomaly Grounding),
``jigsaw/6`` and ``counting/easy`` (``.parquet``), plus ``val.parquet`` from held-out videos and
``mix.json`` (which video went where). Each video serves one task; the paper's proportions are
scaled to the videos available.

Examples:
    python pretext_tasks/build_mix.py --frames-dir /scratch/frames48 --output-dir /scratch/videossr30k
    python pretext_tasks/build_mix.py --frames-dir outputs/demo/frames --output-dir outputs/demo/mix \\
        --reuse-videos        # the 4 bundled clips are fewer than the 6 parts
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from videossr.cli import config_to_dict, fail, parse_config, progress_bar, script_parser
from videossr.data.generator_cli import GeneratorConfig, PlacementOption, add_generator_flags, add_placement_flag
from videossr.data.mix import RECIPES, build_mix, get_recipe
from videossr.errors import ConfigError


@dataclass(kw_only=True)
class MixConfig(PlacementOption, GeneratorConfig):
    recipe: str = "videossr-30k"
    val_fraction: float = 0.01
    reuse_videos: bool = False

    def validate(self) -> None:
        super().validate()
        if self.start or self.end is not None or self.limit is not None:
            raise ConfigError("build_mix.py uses every video of --frames-dir; drop --start/--end/--limit")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")


def build_parser():
    parser = script_parser(__doc__, Path(__file__).name)
    add_generator_flags(parser)
    add_placement_flag(parser)
    parser.add_argument("--recipe", choices=list(RECIPES), help="training mix")
    parser.add_argument("--val-fraction", type=float, help="share of videos held out for val.parquet")
    parser.add_argument(
        "--reuse-videos",
        action=argparse.BooleanOptionalAction,
        help="let every part use every video (tiny corpora only; nothing held out)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    prog = Path(__file__).name
    config = parse_config(build_parser(), MixConfig, argv)
    try:
        summary = build_mix(
            config.frames_dir,
            config.output_dir,
            get_recipe(config.recipe),
            config.settings(),
            val_fraction=config.val_fraction,
            reuse_videos=config.reuse_videos,
            workers=config.workers,
            ray_address=config.ray_target(),
            config_for_manifest=config_to_dict(config),
            progress=progress_bar("generating", "sample"),
        )
    except (ConfigError, ConnectionError) as exc:
        fail(str(exc), prog)
    for part in summary.train:
        print(part.one_line())
    print(f"val: {summary.val_rows} samples -> {summary.val_path}")
    print(f"mix manifest -> {summary.manifest_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
