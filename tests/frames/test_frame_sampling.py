"""End to end: folders of real videos (good and bad) -> frame folders, index, failures, manifest."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from media import coded_size, ffmpeg_binary

from videossr.errors import ConfigError
from videossr.frames.build import JOURNAL_PATH, FrameSamplingConfig, run_frame_sampling
from videossr.frames.folder import load_index
from videossr.frames.plan import plan_central_sampling
from videossr.io import iter_jsonl, read_json

BAD = {
    "zero_bytes": "empty file",
    "text_as_mp4": "unreadable",
    "truncated_unreadable": "unreadable",
    "audio_only": "no video stream",
    "too_short": "too short",
}
GOOD = ["h264_bframes", "vfr_mp4", "rotated_90", "vp9_webm_odd_size", "truncated_readable"]


@pytest.fixture
def mixed_video_dir(tmp_path, catalogue, sample_videos) -> Path:
    """Sample clips, good test videos under odd names, and every kind of bad file."""
    folder = tmp_path / "input videos"
    (folder / "bundled").mkdir(parents=True)
    for video in sample_videos:
        shutil.copy(video, folder / "bundled" / video.name)
    for name in GOOD + list(BAD):
        source = catalogue[name]
        shutil.copy(source, folder / f"{name} é{source.suffix}")
    return folder


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def output_bytes(folder: Path) -> dict[str, bytes]:
    """Every output file except the manifest (which records timings)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def sample(video_dir: Path, output_dir: Path, **overrides) -> object:
    config = FrameSamplingConfig(output_dir=output_dir, video_dir=[video_dir], workers=2, **overrides)
    return run_frame_sampling(config)


def test_every_good_video_is_sampled_and_every_bad_one_reported(mixed_video_dir, tmp_path):
    before = snapshot(mixed_video_dir)
    out = tmp_path / "frames"
    summary = sample(mixed_video_dir, out)

    assert (summary.sampled, summary.failed, summary.already_done) == (4 + len(GOOD), len(BAD), 0)
    assert snapshot(mixed_video_dir) == before, "the input folder must not be touched"

    failures = {row["video_id"]: row for row in iter_jsonl(out / "failures.jsonl")}
    assert set(failures) == {f"{name} é" for name in BAD}
    for name, reason in BAD.items():
        assert reason in failures[f"{name} é"]["reason"]
        assert not (out / f"{name} é").exists(), "a failed video leaves no folder behind"

    records = load_index(out)
    assert [r["video_id"] for r in records] == sorted(r["video_id"] for r in records)
    for record in records:
        plan = plan_central_sampling(record["num_source_frames"])
        assert record["frame_indices"] == list(plan.frame_indices)
        assert record["num_frames"] == 48 and record["step"] == plan.step
        assert record["sample_fps"] == pytest.approx(record["native_fps"] / record["step"])
        assert record["start_s"] == record["frame_times_s"][0]
        assert record["width"] * record["height"] <= 512 * 512
        assert Path(record["source"]).is_absolute()
        for position in range(48):
            image = cv2.imread(str(out / record["video_id"] / f"{position}.jpg"))
            assert image.shape == (record["height"], record["width"], 3)

    manifest = read_json(out / "manifest.json")
    assert manifest["counts"]["sampled"] == summary.sampled
    assert manifest["counts"]["failed"] == len(BAD)
    assert manifest["settings"]["num_frames"] == 48


def test_record_times_are_on_the_true_clock(mixed_video_dir, tmp_path):
    out = tmp_path / "frames"
    sample(mixed_video_dir, out)
    records = {r["video_id"]: r for r in load_index(out)}
    bikes = records["bundled/bikes"]  # 250 frames at 25 fps: frames 12, 16, ... 200
    assert (bikes["frame_indices"][0], bikes["step"], bikes["sample_fps"]) == (12, 4, 6.25)
    assert bikes["start_s"] == pytest.approx(0.48)
    assert bikes["duration_s"] == pytest.approx(10.0)
    # Variable rate: 60 frames 1/30 s apart then 40 frames 0.1 s apart; step 1 over frames 5..52
    # lies in the 30 fps part, so the sampled frames play at 30 fps.
    vfr = records["vfr_mp4 é"]
    assert vfr["step"] == 1 and vfr["sample_fps"] == pytest.approx(30.0)
    rotated = records["rotated_90 é"]
    assert (rotated["width"], rotated["height"]) == (240, 320)
    assert (rotated["source_width"], rotated["source_height"], rotated["rotation_deg"]) == (240, 320, 90)


@pytest.mark.slow
def test_each_stored_jpeg_is_the_source_frame_its_index_names(catalogue, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(catalogue["h264_bframes"], folder / "clip.mp4")
    out = tmp_path / "frames"
    sample(folder, out, max_pixels=0)
    width, height = coded_size(folder / "clip.mp4")
    raw = subprocess.run(
        [
            ffmpeg_binary(),
            "-v",
            "error",
            "-i",
            str(folder / "clip.mp4"),
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgr24",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    reference = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3).astype(np.int16)
    (record,) = load_index(out)
    for position, frame_idx in enumerate(record["frame_indices"]):
        stored = cv2.imread(str(out / "clip" / f"{position}.jpg")).astype(np.int16)
        distances = np.abs(reference - stored).mean(axis=(1, 2, 3))
        assert int(distances.argmin()) == frame_idx
        assert distances[frame_idx] < 8.0  # JPEG (quality 95) on sharp synthetic edges, colour rounding


@pytest.mark.slow
def test_outputs_are_identical_for_any_worker_count(mixed_video_dir, tmp_path):
    one = tmp_path / "one"
    two = tmp_path / "two"
    run_frame_sampling(FrameSamplingConfig(output_dir=one, video_dir=[mixed_video_dir], workers=1))
    run_frame_sampling(FrameSamplingConfig(output_dir=two, video_dir=[mixed_video_dir], workers=2))
    assert output_bytes(one) == output_bytes(two)


@pytest.mark.slow
def test_rerun_skips_done_videos_redoes_half_written_ones_and_matches_a_clean_run(mixed_video_dir, tmp_path):
    out = tmp_path / "frames"
    sample(mixed_video_dir, out)
    clean = output_bytes(out)
    # Simulate a crash in the middle of one video: the journal of an unfinished run holds every
    # record but that video's (and a torn last line), one of its frames is half written, and
    # neither the index nor the manifest was written yet.
    records = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    header = json.loads((out / "settings.json").read_text())
    (out / JOURNAL_PATH).parent.mkdir(exist_ok=True)
    (out / JOURNAL_PATH).write_text(
        "".join(json.dumps(e) + "\n" for e in [header, *[r for r in records if r["video_id"] != "bundled/bikes"]])
        + '{"video_id": "bundled/bik'
    )
    (out / "bundled" / "bikes" / "7.jpg").write_bytes(b"\xff\xd8 half")
    (out / "index.jsonl").unlink()
    (out / "manifest.json").unlink()
    summary = sample(mixed_video_dir, out)
    assert (summary.sampled, summary.already_done, summary.failed) == (1, 3 + len(GOOD), len(BAD))
    assert output_bytes(out) == clean
    assert (out / "manifest.json").exists()


@pytest.mark.slow
def test_resuming_with_other_settings_is_refused(mixed_video_dir, tmp_path):
    out = tmp_path / "frames"
    sample(mixed_video_dir, out)
    with pytest.raises(ConfigError, match=r"max_pixels 262144 -> 0"):
        sample(mixed_video_dir, out, max_pixels=0)


def test_output_folder_inside_the_input_folder_is_refused(sample_video_dir):
    with pytest.raises(ConfigError, match="inside the input folder"):
        sample(sample_video_dir, sample_video_dir / "frames")
    assert not (sample_video_dir / "frames").exists()


def test_video_list_input_and_num_frames(sample_video_dir, tmp_path):
    list_file = tmp_path / "list.txt"
    list_file.write_text(f"{sample_video_dir / 'bikes.mp4'}\tmy/bikes\n")
    out = tmp_path / "frames"
    summary = run_frame_sampling(FrameSamplingConfig(output_dir=out, video_list=list_file, num_frames=16, workers=1))
    assert summary.sampled == 1
    (record,) = load_index(out)
    assert record["video_id"] == "my/bikes" and record["num_frames"] == 16
    assert sorted(p.name for p in (out / "my" / "bikes").glob("*.jpg")) == sorted(f"{i}.jpg" for i in range(16))


def test_load_index_of_a_folder_without_index_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="sample_frames.py"):
        load_index(tmp_path)
