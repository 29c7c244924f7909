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

import sys
from dataclasses import dataclass, field
from pathlib import Path

from videossr.cli import config_to_dict, fail, parse_config, progress_bar
from videossr.data.generator_cli import GeneratorConfig, PlacementOption
from videossr.data.mix import RECIPES, build_mix, get_recipe
from videossr.errors import ConfigError


@dataclass
class MixConfig(PlacementOption, GeneratorConfig):
    recipe: str = field(default="videossr-30k", metadata={"help": "training mix", "choices": list(RECIPES)})
    val_fraction: float = field(default=0.01, metadata={"help": "share of videos held out for val.parquet"})
    reuse_videos: bool = field(
        default=False, metadata={"help": "let every part use every video (tiny corpora only; nothing held out)"}
    )

    def validate(self) -> None:
        super().validate()
        if self.start or self.end is not None or self.limit is not None:
            raise ConfigError("build_mix.py uses every video of --frames-dir; drop --start/--end/--limit")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")


def main(argv: list[str] | None = None) -> int:
    prog = Path(__file__).name
    config = parse_config(MixConfig, argv, description=__doc__.split("\n\n")[0], prog=prog)
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
