"""Data generation on a real two-node Ray cluster: the same bytes as a local run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from media import REPO_ROOT
from row_checks import output_tree, replicate_frames

from videossr.testing.local_ray import local_ray_cluster, ray_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_address():
    with local_ray_cluster(num_nodes=2) as address:
        yield address


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "pretext_tasks" / script), *args],
        capture_output=True,
        text=True,
        env=ray_env(),
    )


def test_frame_sampling_on_ray_equals_a_local_run(ray_address, sample_video_dir, tmp_path):
    local = _run(
        "sample_frames.py",
        "--video-dir",
        str(sample_video_dir),
        "--output-dir",
        str(tmp_path / "local"),
        "--workers",
        "2",
    )
    on_ray = _run(
        "sample_frames.py",
        "--video-dir",
        str(sample_video_dir),
        "--output-dir",
        str(tmp_path / "ray"),
        "--ray-address",
        ray_address,
    )
    assert local.returncode == 0 and on_ray.returncode == 0, on_ray.stderr[-2000:]
    assert on_ray.stdout.startswith("sampled 4, failed 0")
    assert output_tree(tmp_path / "local") == output_tree(tmp_path / "ray")


def test_generators_on_ray_equal_a_local_run_and_failures_reach_the_driver(ray_address, frames_dir, tmp_path):
    frames = tmp_path / "frames"
    shutil.copytree(frames_dir, frames)
    (frames / "bikes" / "3.jpg").unlink()  # one broken video: reported, not fatal
    args = ["--frames-dir", str(frames), "--perturbation", "Swap", "--perturbation", "Blur"]
    local = _run("grounding.py", *args, "--output-dir", str(tmp_path / "local"), "--workers", "2")
    on_ray = _run("grounding.py", *args, "--output-dir", str(tmp_path / "ray"), "--ray-address", ray_address)
    assert local.returncode == 0 and on_ray.returncode == 0, on_ray.stderr[-2000:]
    assert output_tree(tmp_path / "local") == output_tree(tmp_path / "ray")
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert [s["video_id"] for s in manifest["files"]["grounding/blur"]["failed"]] == ["bikes"]


def test_a_killed_ray_driver_resumes_to_the_same_files(ray_address, frames_dir, tmp_path):
    big = replicate_frames(frames_dir, tmp_path / "frames", copies=5)
    args = [
        sys.executable,
        str(REPO_ROOT / "pretext_tasks" / "counting.py"),
        "--frames-dir",
        str(big),
        "--ray-address",
        ray_address,
    ]
    out = tmp_path / "killed"
    process = subprocess.Popen(
        [*args, "--output-dir", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ray_env(),
        start_new_session=True,
    )
    journal = out / ".journal" / "counting/easy.jsonl"
    import signal
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 5):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "counting/easy.parquet").exists()
    resumed = subprocess.run([*args, "--output-dir", str(out)], capture_output=True, text=True, env=ray_env())
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed)" in resumed.stdout
    fresh = subprocess.run(
        [*args, "--output-dir", str(tmp_path / "fresh")], capture_output=True, text=True, env=ray_env()
    )
    assert fresh.returncode == 0
    assert output_tree(out) == output_tree(tmp_path / "fresh")


def test_an_unreachable_cluster_is_a_one_line_error(sample_video_dir, tmp_path):
    result = _run(
        "sample_frames.py",
        "--video-dir",
        str(sample_video_dir),
        "--output-dir",
        str(tmp_path / "o"),
        "--ray-address",
        "127.0.0.9:1",
    )
    assert result.returncode == 2 and "cannot join the Ray cluster" in result.stderr
