"""Training mixes: which videos go to which task, in the paper's proportions.

VideoSSR-30K (the paper's pie chart; the split is inferred): Anomaly Grounding ~12K in four equal
parts (ChannelSwap, Mirror, ZoomOut, Rotate180), Temporal Jigsaw (6 clips) ~12K, Object Counting
(easy) ~6K, i.e. 10/10/10/10/40/20 % of the videos. :func:`assign_videos` scales that to the videos
available: a seeded shuffle of the sorted video ids, a held-out validation slice first, then the
largest-remainder split of the rest, so each video serves exactly one task and the assignment
does not depend on file-system order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from videossr.data.generation import FileSummary, GenerationSettings, generate_files, read_rows, write_data_file
from videossr.data.store import exclusive_writer
from videossr.errors import ConfigError
from videossr.frames.folder import load_index
from videossr.io import remove_stale_temporaries, write_json_atomic
from videossr.provenance import utc_now
from videossr.tasks.registry import OutputSpec, spec_of
from videossr.tasks.seeds import derive_seed, rng_for

VAL_STEM = "val"
VAL_PARTS_DIR = "val_parts"
MIX_MANIFEST = "mix.json"


@dataclass(frozen=True)
class MixPart:
    spec: OutputSpec
    weight: float


@dataclass(frozen=True)
class Recipe:
    name: str
    parts: tuple[MixPart, ...]
    description: str


RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> None:
    if recipe.name in RECIPES:
        raise ValueError(f"recipe {recipe.name!r} is already registered")
    RECIPES[recipe.name] = recipe


register_recipe(
    Recipe(
        name="videossr-30k",
        parts=(
            MixPart(spec_of("grounding/channelswap"), 3_000),
            MixPart(spec_of("grounding/mirror"), 3_000),
            MixPart(spec_of("grounding/zoomout"), 3_000),
            MixPart(spec_of("grounding/rotate180"), 3_000),
            MixPart(spec_of("jigsaw/6"), 12_000),
            MixPart(spec_of("counting/easy"), 6_000),
        ),
        description="the paper's training mix: 4 x 3K grounding, 12K jigsaw-6, 6K counting-easy",
    )
)


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    return RECIPES[name]


def split_by_weights(count: int, weights: Sequence[float]) -> list[int]:
    """Integers summing to ``count``, proportional to ``weights`` (largest remainder; ties by order).

    >>> split_by_weights(10, [1, 1, 1, 1, 4, 2])
    [1, 1, 1, 1, 4, 2]
    >>> split_by_weights(7, [1, 1, 1, 1, 4, 2])
    [1, 1, 1, 0, 3, 1]
    """
    total = float(sum(weights))
    exact = [count * w / total for w in weights]
    sizes = [int(e) for e in exact]
    order = sorted(range(len(weights)), key=lambda k: (-(exact[k] - sizes[k]), k))
    for k in order[: count - sum(sizes)]:
        sizes[k] += 1
    return sizes


@dataclass
class MixAssignment:
    """Video ids per part, for training and validation."""

    train: list[tuple[OutputSpec, list[str]]]
    val: list[tuple[OutputSpec, list[str]]]


def assign_videos(
    video_ids: Sequence[str],
    recipe: Recipe,
    seed: int,
    *,
    val_fraction: float = 0.01,
    reuse_videos: bool = False,
) -> MixAssignment:
    """Assign videos to the recipe's parts; see the module docstring.

    Args:
        val_fraction: share of videos held out for validation (at least one when > 0).
        reuse_videos: for tiny corpora (the bundled samples): every part and the validation file
            use every video, so nothing is held out. Off by default.

    Raises:
        ConfigError: fewer videos than parts (without ``reuse_videos``) or a bad fraction.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    ids = sorted(set(video_ids))
    specs = [part.spec for part in recipe.parts]
    if reuse_videos:
        return MixAssignment(train=[(s, list(ids)) for s in specs], val=[(s, list(ids)) for s in specs])
    shuffled = [ids[k] for k in rng_for(derive_seed(seed, "mix", recipe.name)).permutation(len(ids))]
    num_val = max(1, round(val_fraction * len(ids))) if val_fraction > 0 else 0
    val_ids, train_ids = shuffled[:num_val], shuffled[num_val:]
    if len(train_ids) < len(specs):
        raise ConfigError(
            f"recipe {recipe.name} has {len(specs)} parts but only {len(train_ids)} training videos "
            f"({len(ids)} in all, {num_val} held out); add videos or pass --reuse-videos (demo only)"
        )
    weights = [part.weight for part in recipe.parts]
    return MixAssignment(train=_split(train_ids, specs, weights), val=_split(val_ids, specs, weights))


def _split(ids: list[str], specs: list[OutputSpec], weights: list[float]) -> list[tuple[OutputSpec, list[str]]]:
    sizes = split_by_weights(len(ids), weights)
    if len(ids) >= len(specs):
        # Small corpora: no part may end up empty (train.sh reads every file); the largest part
        # gives one video to each empty one.
        while 0 in sizes:
            sizes[sizes.index(max(sizes))] -= 1
            sizes[sizes.index(0)] += 1
    bounds = np.cumsum([0, *sizes])
    return [(spec, sorted(ids[bounds[k] : bounds[k + 1]])) for k, spec in enumerate(specs)]


@dataclass
class MixSummary:
    train: list[FileSummary]
    val_rows: int
    val_path: Path | None
    manifest_path: Path


def build_mix(
    frames_dir: str | Path,
    output_dir: str | Path,
    recipe: Recipe,
    settings: GenerationSettings,
    *,
    val_fraction: float = 0.01,
    reuse_videos: bool = False,
    workers: int = 1,
    ray_address: str | None = None,
    config_for_manifest: dict[str, Any] | None = None,
    progress=None,
) -> MixSummary:
    """Generate every part of ``recipe`` plus ``val.parquet``; ``mix.json`` is written last.

    The training files are named by their parts' variant keys (``grounding/channelswap.parquet``,
    ..., the names ``train/train.sh`` reads); validation rows of every part are concatenated into ``val.parquet``.
    """
    output_dir = Path(output_dir).expanduser().resolve()
    # One mix build per folder (its val.parquet and mix.json are the mix's own, beyond the parts).
    with exclusive_writer(output_dir, "mix"):
        return _build_mix_locked(
            frames_dir,
            output_dir,
            recipe,
            settings,
            val_fraction,
            reuse_videos,
            workers,
            ray_address,
            config_for_manifest,
            progress,
        )


def _build_mix_locked(
    frames_dir,
    output_dir: Path,
    recipe: Recipe,
    settings: GenerationSettings,
    val_fraction: float,
    reuse_videos: bool,
    workers: int,
    ray_address: str | None,
    config_for_manifest: dict[str, Any] | None,
    progress,
) -> MixSummary:
    """:func:`build_mix` once the folder's mix lock is held."""
    # Temporaries a killed build left of the mix's own files.
    remove_stale_temporaries(output_dir, [f"{VAL_STEM}.parquet", f"{VAL_STEM}.jsonl", MIX_MANIFEST])
    (output_dir / MIX_MANIFEST).unlink(missing_ok=True)
    video_ids = [r["video_id"] for r in load_index(frames_dir)]
    assignment = assign_videos(video_ids, recipe, settings.seed, val_fraction=val_fraction, reuse_videos=reuse_videos)
    train = generate_files(
        frames_dir,
        output_dir,
        assignment.train,
        replace(settings, split="train"),
        workers=workers,
        ray_address=ray_address,
        config_for_manifest=config_for_manifest,
        progress=progress,
    )
    val_rows: list[dict[str, Any]] = []
    val_path = None
    val_assignment = [(spec, ids) for spec, ids in assignment.val if ids]
    if val_assignment:
        # With reused videos, a different seed keeps validation samples from repeating training ones.
        val_settings = replace(settings, split="val", seed=settings.seed + 1 if reuse_videos else settings.seed)
        val_parts = generate_files(
            frames_dir,
            output_dir / VAL_PARTS_DIR,
            val_assignment,
            val_settings,
            workers=workers,
            ray_address=ray_address,
            config_for_manifest=config_for_manifest,
            progress=progress,
        )
        for part in val_parts:
            val_rows.extend(read_rows(part.path))
        for index, row in enumerate(val_rows):
            row["extra_info"]["index"] = index
        val_path = write_data_file(output_dir, VAL_STEM, val_rows)
    manifest_path = output_dir / MIX_MANIFEST
    write_json_atomic(
        manifest_path,
        {
            "recipe": recipe.name,
            "description": recipe.description,
            "seed": settings.seed,
            "val_fraction": val_fraction,
            "reuse_videos": reuse_videos,
            "train_files": {
                s.key: {"file": f"{s.key}.parquet", "rows": s.num_rows, "failed": len(s.failed)} for s in train
            },
            "val_file": {"file": val_path.name if val_path else None, "rows": len(val_rows)},
            "videos": {
                "train": {spec.key: ids for spec, ids in assignment.train},
                "val": {spec.key: ids for spec, ids in assignment.val},
            },
            "finished_at": utc_now(),
        },
    )
    return MixSummary(train=train, val_rows=len(val_rows), val_path=val_path, manifest_path=manifest_path)


def main(argv: list[str] | None = None) -> int:
    """``--train-files [RECIPE]``: print the variant keys of a recipe's training files (what train.sh reads)."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "--train-files" or len(args) > 2:
        print("usage: python -m videossr.data.mix --train-files [RECIPE]", file=sys.stderr)
        return 2
    try:
        recipe = get_recipe(args[1] if len(args) == 2 else "videossr-30k")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(" ".join(part.spec.key for part in recipe.parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
