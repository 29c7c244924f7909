"""Anomaly Grounding data: perturb 8-16 consecutive frames; the answer is their time interval.

Writes one file per perturbation, named by its variant key: ``OUT/grounding/<name>.parquet`` (+ ``.jsonl``),
e.g. ``OUT/grounding/channelswap.parquet``.
Perturbations: the paper's 14 (Saturation Noise Blur Grayscale Invert ChannelSwap ZoomIn Rotate180
ZoomOut Mirror Slow Fast StutterHold Shuffle) and the released code's extras (Rotate90 Rotate270
Swap); ``all`` for every one.

Examples:
    python pretext_tasks/grounding.py --frames-dir outputs/frames --output-dir outputs/data \\
        --perturbation ChannelSwap --perturbation Mirror
    python pretext_tasks/grounding.py --frames-dir /scratch/frames48 --output-dir /scratch/data \\
        --perturbation all --start 0 --end 3000 --seed 1
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from videossr.cli import parse_config, script_parser
from videossr.data.generator_cli import GeneratorConfig, add_generator_flags, run_generator_script
from videossr.errors import ConfigError
from videossr.tasks.perturbations import PERTURBATIONS
from videossr.tasks.registry import OutputSpec, spec_of


@dataclass(kw_only=True)
class GroundingConfig(GeneratorConfig):
    perturbation: list[str] = field(default_factory=list)

    def validate(self) -> None:
        super().validate()
        if not self.perturbation:
            raise ConfigError(f"pass --perturbation NAME (repeatable) or 'all'; names: {', '.join(PERTURBATIONS)}")
        self.specs()

    def specs(self) -> list[OutputSpec]:
        names = list(PERTURBATIONS) if any(p.lower() == "all" for p in self.perturbation) else self.perturbation
        return list(dict.fromkeys(spec_of(f"grounding/{name}") for name in names))


def build_parser():
    parser = script_parser(__doc__, Path(__file__).name)
    add_generator_flags(parser)
    parser.add_argument(
        "--perturbation",
        action="append",
        metavar="NAME",
        help="perturbation name (case-insensitive); repeat for several, or 'all'",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    config = parse_config(build_parser(), GroundingConfig, argv)
    return run_generator_script(config, config.specs(), Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
