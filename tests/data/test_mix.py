"""The training mix: proportions, disjoint videos, the files train.sh reads, validation."""

from __future__ import annotations

import subprocess
import sys

import pytest
from media import REPO_ROOT

from videossr.data.generation import GenerationSettings, read_rows
from videossr.data.mix import assign_videos, build_mix, get_recipe, split_by_weights
from videossr.errors import ConfigError
from videossr.io import read_json

TRAIN_SH_FILES = [
    "grounding/channelswap",
    "grounding/mirror",
    "grounding/zoomout",
    "grounding/rotate180",
    "jigsaw/6",
    "counting/easy",
]


def test_the_recipe_is_the_papers_mix():
    recipe = get_recipe("videossr-30k")
    assert [p.spec.key for p in recipe.parts] == TRAIN_SH_FILES
    assert [p.weight for p in recipe.parts] == [3000, 3000, 3000, 3000, 12000, 6000]


@pytest.mark.parametrize("count", [6, 7, 30, 101, 30_000])
def test_split_by_weights_sums_and_stays_proportional(count):
    sizes = split_by_weights(count, [1, 1, 1, 1, 4, 2])
    assert sum(sizes) == count
    assert all(abs(size - count * w / 10) < 1 for size, w in zip(sizes, [1, 1, 1, 1, 4, 2]))


def test_each_video_serves_one_part_and_validation_is_held_out():
    ids = [f"v{k:03d}" for k in range(200)]
    assignment = assign_videos(ids, get_recipe("videossr-30k"), seed=0, val_fraction=0.05)
    train_ids = [v for _, part in assignment.train for v in part]
    val_ids = [v for _, part in assignment.val for v in part]
    assert len(train_ids) == len(set(train_ids)) == 190 and len(val_ids) == 10
    assert not set(train_ids) & set(val_ids)
    assert [len(part) for _, part in assignment.train] == [19, 19, 19, 19, 76, 38]
    # Independent of the order the ids come in; dependent on the seed.
    assert assign_videos(list(reversed(ids)), get_recipe("videossr-30k"), seed=0, val_fraction=0.05) == assignment
    assert assign_videos(ids, get_recipe("videossr-30k"), seed=1, val_fraction=0.05) != assignment


def test_no_part_is_left_empty_when_there_are_enough_videos():
    assignment = assign_videos([f"v{k}" for k in range(7)], get_recipe("videossr-30k"), seed=0, val_fraction=0.01)
    assert [len(part) for _, part in assignment.train] == [1, 1, 1, 1, 1, 1]


def test_too_few_videos_is_an_error_that_names_the_way_out():
    with pytest.raises(ConfigError, match="--reuse-videos"):
        assign_videos(["a", "b", "c"], get_recipe("videossr-30k"), seed=0)


@pytest.mark.slow
def test_build_mix_writes_the_files_train_sh_reads(frames_dir, tmp_path):
    summary = build_mix(frames_dir, tmp_path, get_recipe("videossr-30k"), GenerationSettings(), reuse_videos=True)
    for stem in TRAIN_SH_FILES:
        rows = read_rows(tmp_path / f"{stem}.parquet")
        assert len(rows) == 7 and all(r["extra_info"]["split"] == "train" for r in rows)
    val = read_rows(summary.val_path)
    assert len(val) == 6 * 7 and all(r["extra_info"]["split"] == "val" for r in val)
    assert [r["extra_info"]["index"] for r in val] == list(range(len(val)))
    train_truths = {
        (r["extra_info"]["video_id"], r["reward_model"]["ground_truth"])
        for r in read_rows(tmp_path / "grounding/mirror.parquet")
    }
    val_mirror = {
        (r["extra_info"]["video_id"], r["reward_model"]["ground_truth"])
        for r in val
        if r["extra_info"]["perturbation"] == "Mirror"
    }
    assert train_truths != val_mirror, "reused videos still get fresh validation samples"
    manifest = read_json(tmp_path / "mix.json")
    assert manifest["recipe"] == "videossr-30k" and manifest["val_file"]["rows"] == 42


def test_build_mix_cli_refuses_a_video_range(frames_dir, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "pretext_tasks" / "build_mix.py"),
            "--frames-dir",
            str(frames_dir),
            "--output-dir",
            str(tmp_path),
            "--limit",
            "3",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "drop --start/--end/--limit" in result.stderr
