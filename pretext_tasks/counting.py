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
from dataclasses import dataclass, field
from pathlib import Path

from videossr.cli import parse_config
from videossr.data.generator_cli import GeneratorConfig, PlacementOption, run_generator_script
from videossr.tasks.counting import DIFFICULTIES
from videossr.tasks.registry import spec_of


@dataclass
class CountingConfig(PlacementOption, GeneratorConfig):
    difficulty: str = field(
        default="easy",
        metadata={
            "help": "easy: 1-3 frames per shape, 1-3 instances; hard: 1-4 and 1-4",
            "choices": list(DIFFICULTIES),
        },
    )


def main(argv: list[str] | None = None) -> int:
    prog = Path(__file__).name
    config = parse_config(CountingConfig, argv, description=__doc__.split("\n\n")[0], prog=prog)
    return run_generator_script(config, [spec_of(f"counting/{config.difficulty}")], prog)


if __name__ == "__main__":
    sys.exit(main())
