"""The generator driver: determinism, resume after a kill, safety of inputs, bad frames."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from media import REPO_ROOT
from row_checks import output_tree, replicate_frames

from videossr.data.generation import GenerationSettings, generate_files, read_rows
from videossr.errors import ConfigError
from videossr.frames.folder import load_index
from videossr.io import read_json, write_jsonl_atomic
from videossr.tasks.registry import spec_of
from videossr.tasks.rows import ROW_SCHEMA

SPECS = [spec_of("grounding/ZoomOut"), spec_of("grounding/Swap"), spec_of("counting"), spec_of("jigsaw/6")]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def all_ids(frames_dir: Path) -> list[str]:
    return [r["video_id"] for r in load_index(frames_dir)]


@pytest.mark.slow
def test_outputs_are_byte_identical_for_any_worker_count(frames_dir, tmp_path):
    before = snapshot(frames_dir)
    ids = all_ids(frames_dir)
    for workers, name in ((1, "one"), (2, "two")):
        generate_files(
            frames_dir, tmp_path / name, [(s, ids) for s in SPECS], GenerationSettings(seed=5), workers=workers
        )
    assert output_tree(tmp_path / "one") == output_tree(tmp_path / "two")
    assert snapshot(frames_dir) == before, "the frames folder must not be touched"


def test_a_different_seed_gives_different_samples(frames_dir, tmp_path):
    ids = all_ids(frames_dir)
    spec = [(spec_of("grounding/Mirror"), ids)]
    generate_files(frames_dir, tmp_path / "a", spec, GenerationSettings(seed=1))
    generate_files(frames_dir, tmp_path / "b", spec, GenerationSettings(seed=2))
    truths = [
        [r["reward_model"]["ground_truth"] for r in read_rows(tmp_path / d / "grounding/mirror.parquet")] for d in "ab"
    ]
    assert truths[0] != truths[1]


def test_all_files_share_one_schema_and_concatenate_in_verl_s_loader(frames_dir, tmp_path):
    import datasets

    ids = all_ids(frames_dir)
    generate_files(frames_dir, tmp_path, [(s, ids) for s in SPECS], GenerationSettings())
    files = [str(s.data_file(tmp_path)) for s in SPECS]
    import pyarrow.parquet as pq

    assert all(pq.read_schema(f).equals(ROW_SCHEMA) for f in files)
    # What verl's RLHFDataset does with data.train_files.
    parts = [datasets.load_dataset("parquet", data_files=f)["train"] for f in files]
    merged = datasets.concatenate_datasets(parts)
    assert len(merged) == 4 * 7
    assert sorted(set(merged["data_source"])) == ["counting", "grounding", "jigsaw"]


def test_output_inside_the_frames_folder_is_refused(frames_dir):
    with pytest.raises(ConfigError, match="inside the frames folder"):
        generate_files(frames_dir, frames_dir / "data", [(SPECS[0], all_ids(frames_dir))], GenerationSettings())
    assert not (frames_dir / "data").exists()


def test_a_folder_that_is_not_a_frames_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no index.jsonl"):
        generate_files(tmp_path / "frames", tmp_path / "out", [(SPECS[0], ["x"])], GenerationSettings())


def test_videos_with_missing_or_too_few_frames_are_skipped_with_reasons(frames_dir, tmp_path):
    broken = tmp_path / "frames"
    shutil.copytree(frames_dir, broken)
    (broken / "bikes" / "17.jpg").unlink()
    records = load_index(broken)
    for record in records:
        if record["video_id"] == "carphone_pristine":
            record["num_frames"] = 12  # as if sampled with --num-frames 12
    write_jsonl_atomic(broken / "index.jsonl", records)
    ids = [r["video_id"] for r in records]
    (summary,) = generate_files(broken, tmp_path / "out", [(spec_of("grounding/Invert"), ids)], GenerationSettings())
    reasons = {s["video_id"]: s["reason"] for s in summary.failed}
    assert set(reasons) == {"bikes", "carphone_pristine"}
    assert "missing" in reasons["bikes"] and "more than 16 frames" in reasons["carphone_pristine"]
    manifest = read_json(tmp_path / "out" / "manifest.json")
    assert manifest["files"]["grounding/invert"]["failed"] == summary.failed
    assert summary.num_rows == 5


@pytest.mark.slow
def test_killed_generation_resumes_to_identical_files(frames_dir, tmp_path):
    big = replicate_frames(frames_dir, tmp_path / "frames", copies=6)  # 42 videos: the kill lands mid-run
    script = REPO_ROOT / "pretext_tasks" / "grounding.py"
    args = [sys.executable, str(script), "--frames-dir", str(big), "--perturbation", "Blur", "--workers", "1"]
    out = tmp_path / "killed"
    process = subprocess.Popen(
        [*args, "--output-dir", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    journal = out / ".journal" / "grounding/blur.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 6):
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = journal.read_text().count("\n") - 1
    assert 5 <= done < 42 and not (out / "grounding/blur.parquet").exists()
    resumed = subprocess.run([*args, "--output-dir", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done} resumed" in resumed.stdout or f"{done + 1} resumed" in resumed.stdout
    fresh = subprocess.run([*args, "--output-dir", str(tmp_path / "fresh")], capture_output=True, text=True)
    assert fresh.returncode == 0
    assert output_tree(out) == output_tree(tmp_path / "fresh")
    assert not journal.exists(), "the journal is removed once the file is written"


def test_cli_errors_are_one_line_and_name_the_fix(frames_dir, tmp_path):
    script = REPO_ROOT / "pretext_tasks" / "grounding.py"
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--frames-dir",
            str(frames_dir),
            "--output-dir",
            str(tmp_path),
            "--perturbation",
            "Sepia",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "unknown perturbation 'Sepia'" in result.stderr and "ChannelSwap" in result.stderr
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "pretext_tasks" / "counting.py"),
            "--frames-dir",
            str(tmp_path / "nope"),
            "--output-dir",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "sample_frames.py" in result.stderr


def test_cli_selects_a_video_range(frames_dir, tmp_path):
    script = REPO_ROOT / "pretext_tasks" / "jigsaw.py"
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--frames-dir",
            str(frames_dir),
            "--output-dir",
            str(tmp_path),
            "--start",
            "2",
            "--end",
            "6",
            "--limit",
            "3",
            "--num-clips",
            "8",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "jigsaw/8.parquet")
    assert [r["extra_info"]["video_id"] for r in rows] == all_ids(frames_dir)[2:5]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"]["jigsaw/8"]["config"]["num_clips"] == 8


def test_a_finished_file_is_left_alone_until_its_settings_or_videos_change(frames_dir, tmp_path):
    ids = all_ids(frames_dir)
    spec = spec_of("grounding/Grayscale")
    generate_files(frames_dir, tmp_path, [(spec, ids)], GenerationSettings(seed=4))
    stamp = (tmp_path / "grounding/grayscale.parquet").stat().st_mtime_ns
    (again,) = generate_files(frames_dir, tmp_path, [(spec, ids)], GenerationSettings(seed=4))
    assert again.up_to_date and again.num_rows == 7 and "up to date" in again.one_line()
    assert (tmp_path / "grounding/grayscale.parquet").stat().st_mtime_ns == stamp
    (fewer,) = generate_files(frames_dir, tmp_path, [(spec, ids[:3])], GenerationSettings(seed=4))
    assert not fewer.up_to_date and fewer.num_rows == 3
    (reseeded,) = generate_files(frames_dir, tmp_path, [(spec, ids[:3])], GenerationSettings(seed=5))
    assert not reseeded.up_to_date
