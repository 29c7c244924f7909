"""Shared fixtures: real test videos made once per session with FFmpeg."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from media import SAMPLE_VIDEO_DIR, build_catalogue

from videossr.frames.build import FrameSamplingConfig, run_frame_sampling
from videossr.testing.tiny_models import tiny_model_dir

TRAINING_MATRIX_OPTION = "--training-matrix"


def pytest_addoption(parser):
    parser.addoption(
        TRAINING_MATRIX_OPTION,
        action="store_true",
        help="also run the training configurations beyond the suite's (bash scripts/test.sh --training-matrix)",
    )


def pytest_collection_modifyitems(config, items):
    """Tests marked training_matrix run only in their lane: each is several real verl runs."""
    if config.getoption(TRAINING_MATRIX_OPTION):
        return
    skip = pytest.mark.skip(reason="in the training-matrix lane: bash scripts/test.sh --training-matrix")
    for item in items:
        if "training_matrix" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory) -> dict[str, Path]:
    """Test videos by name (see ``media.build_catalogue``); treat as read-only."""
    return build_catalogue(tmp_path_factory.mktemp("catalogue"))


@pytest.fixture(scope="session")
def sample_videos() -> list[Path]:
    """The real clips shipped in ``data/videos`` (read-only)."""
    videos = sorted(SAMPLE_VIDEO_DIR.glob("*.mp4"))
    assert len(videos) == 4, f"expected the 4 bundled sample clips in {SAMPLE_VIDEO_DIR}"
    return videos


@pytest.fixture(scope="session")
def frames_dir(tmp_path_factory, catalogue, sample_videos) -> Path:
    """A frames folder (read-only) of 7 real videos: the bundled clips and synthetic test patterns.

    ``pattern_*`` videos are FFmpeg's moving ``testsrc2`` (320x240, colourful, asymmetric, with a
    frame counter): every frame differs from every other, so pixel checks are exact. ``vfr`` has
    sampling step 1 (Slow cannot be built from it).
    """
    videos = tmp_path_factory.mktemp("frames_input")
    for video in sample_videos:
        shutil.copy(video, videos / video.name)
    shutil.copy(catalogue["h264_bframes"], videos / "pattern_a.mp4")
    shutil.copy(catalogue["h264_open_gop"], videos / "pattern_b.mp4")
    shutil.copy(catalogue["vfr_mp4"], videos / "vfr.mp4")
    out = tmp_path_factory.mktemp("frames") / "frames"
    summary = run_frame_sampling(FrameSamplingConfig(output_dir=out, video_dir=[videos], workers=2))
    assert summary.sampled == 7, summary.failures
    return out


@pytest.fixture
def sample_video_dir(tmp_path, sample_videos) -> Path:
    """A private copy of the sample clips, so a test may add files beside them."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for video in sample_videos:
        shutil.copy(video, folder / video.name)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Callable[[str], Path]:
    """``tiny_model(family)``: that family's tiny random checkpoint, built once per test run (read-only)."""
    root = tmp_path_factory.mktemp("tiny_models")
    return lambda family: tiny_model_dir(family, root)
