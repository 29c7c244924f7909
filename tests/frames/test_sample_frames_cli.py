"""The command-line tool as a user runs it: one-line errors, progress, summary, kill and resume."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from media import REPO_ROOT

from videossr.data.store import read_log
from videossr.frames.build import JOURNAL_PATH

SCRIPT = REPO_ROOT / "pretext_tasks" / "sample_frames.py"


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, **kwargs)


def test_help_documents_every_flag():
    result = run_cli("--help")
    assert result.returncode == 0
    for flag in ["--video-dir", "--video-list", "--output-dir", "--num-frames", "--max-pixels", "--workers"]:
        assert flag in result.stdout


def test_missing_video_dir_is_a_one_line_error(tmp_path):
    result = run_cli("--video-dir", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "video folder not found" in result.stderr and "--video-dir" in result.stderr
    assert not (tmp_path / "out").exists()


def test_no_input_at_all_says_what_to_pass(tmp_path):
    result = run_cli("--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--video-dir DIR" in result.stderr and "--video-list FILE" in result.stderr


def test_bad_value_is_a_one_line_error(tmp_path):
    result = run_cli("--video-dir", str(tmp_path), "--output-dir", str(tmp_path / "o"), "--jpeg-quality", "0")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--jpeg-quality must be in 1..100" in result.stderr


def test_empty_folder_is_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("--video-dir", str(tmp_path / "empty"), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2 and "no video files found" in result.stderr


@pytest.mark.slow
def test_run_prints_a_summary_line(sample_video_dir, tmp_path):
    result = run_cli("--video-dir", str(sample_video_dir), "--output-dir", str(tmp_path / "out"), "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sampled 4, failed 0, already done 0")
    assert "frames/s" in result.stdout


def _journalled(out: Path) -> int:
    """Videos the journal of a running (or killed) sampler holds, its settings line aside."""
    if not (out / JOURNAL_PATH).exists():
        return 0
    entries, _ = read_log(out / JOURNAL_PATH)
    return max(0, len(entries) - 1)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(sample_videos, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for copy in range(6):
        for video in sample_videos:
            shutil.copy(video, videos / f"{copy}_{video.name}")
    out = tmp_path / "out"
    args = [sys.executable, str(SCRIPT), "--video-dir", str(videos), "--output-dir", str(out), "--workers", "1"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _journalled(out) < 3:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = _journalled(out)
    assert 3 <= done_before < 24, "the kill should land mid-run"
    assert not (out / "manifest.json").exists()

    resumed = run_cli("--video-dir", str(videos), "--output-dir", str(out), "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"already done {done_before}" in resumed.stdout

    fresh = tmp_path / "fresh"
    assert run_cli("--video-dir", str(videos), "--output-dir", str(fresh), "--workers", "2").returncode == 0
    files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert all((fresh / f).read_bytes() == (out / f).read_bytes() for f in files)
