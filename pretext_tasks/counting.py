"""Object Counting data: draw circles, squares and triangles on some frames; count each shape.

Writes ``OUT/counting/easy.parquet`` (the training setting) or ``OUT/counting/hard.parquet`` (+ ``.jsonl``).
By default no two shapes of a frame overlap (``--placement separate``); ``--placement released``
reproduces the released code's placement exactly, overlaps included.

Examples:
    python pretext_tasks/counting.py --frames-dir outputs/frames --output-dir outputs/data
    python pretext_tasks/counting.py --frames-dir outputs/frames --output-dir outputs/data --difficulty hard
    python pretext_tasks/counting.py --frames-dir outputs/frames --output-dir outputs/released --placement released
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from videossr.cli import parse_config, script_parser
from videossr.data.generator_cli import (
    GeneratorConfig,
    PlacementOption,
    add_generator_flags,
    add_placement_flag,
    run_generator_script,
)
from videossr.tasks.counting import DIFFICULTIES
from videossr.tasks.registry import spec_of


@dataclass(kw_only=True)
class CountingConfig(PlacementOption, GeneratorConfig):
    difficulty: str = "easy"


def build_parser():
    parser = script_parser(__doc__, Path(__file__).name)
    add_generator_flags(parser)
    parser.add_argument(
        "--difficulty", choices=list(DIFFICULTIES), help="easy: 1-3 frames per shape, 1-3 instances; hard: 1-4 and 1-4"
    )
    add_placement_flag(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    config = parse_config(build_parser(), CountingConfig, argv)
    return run_generator_script(config, [spec_of(f"counting/{config.difficulty}")], Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
