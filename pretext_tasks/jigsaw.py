"""Temporal Jigsaw data: the 48 frames cut into n clips, shown shuffled as n separate videos.

Writes ``OUT/jigsaw/6.parquet`` (6 clips of 8 frames, the training setting) or ``OUT/jigsaw/8.parquet``.

Examples:
    python pretext_tasks/jigsaw.py --frames-dir outputs/frames --output-dir outputs/data
    python pretext_tasks/jigsaw.py --frames-dir outputs/frames --output-dir outputs/data --num-clips 8
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from videossr.cli import parse_config
from videossr.data.generator_cli import GeneratorConfig, run_generator_script
from videossr.tasks.jigsaw import SUPPORTED_NUM_CLIPS
from videossr.tasks.registry import spec_of


@dataclass
class JigsawConfig(GeneratorConfig):
    num_clips: int = field(
        default=6, metadata={"help": "clips per sample (6: easy, 8: hard)", "choices": list(SUPPORTED_NUM_CLIPS)}
    )


def main(argv: list[str] | None = None) -> int:
    prog = Path(__file__).name
    config = parse_config(JigsawConfig, argv, description=__doc__.split("\n\n")[0], prog=prog)
    return run_generator_script(config, [spec_of(f"jigsaw/{config.num_clips}")], prog)


if __name__ == "__main__":
    sys.exit(main())
