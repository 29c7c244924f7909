"""Temporal Jigsaw data: the 48 frames cut into n clips, shown shuffled as n separate videos.

Writes ``OUT/jigsaw/6.parquet`` (6 clips of 8 frames, the training setting) or ``OUT/jigsaw/8.parquet``.

Examples:
    python pretext_tasks/jigsaw.py --frames-dir outputs/frames --output-dir outputs/data
    python pretext_tasks/jigsaw.py --frames-dir outputs/frames --output-dir outputs/data --num-clips 8
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from videossr.cli import parse_config, script_parser
from videossr.data.generator_cli import GeneratorConfig, add_generator_flags, run_generator_script
from videossr.tasks.jigsaw import SUPPORTED_NUM_CLIPS
from videossr.tasks.registry import spec_of


@dataclass(kw_only=True)
class JigsawConfig(GeneratorConfig):
    num_clips: int = 6


def build_parser():
    parser = script_parser(__doc__, Path(__file__).name)
    add_generator_flags(parser)
    parser.add_argument(
        "--num-clips", type=int, choices=list(SUPPORTED_NUM_CLIPS), help="clips per sample (6: easy, 8: hard)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    config = parse_config(build_parser(), JigsawConfig, argv)
    return run_generator_script(config, [spec_of(f"jigsaw/{config.num_clips}")], Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
