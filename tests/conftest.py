"""Shared fixtures: real test videos made once per session with FFmpeg."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from media import SAMPLE_VIDEO_DIR, build_catalogue


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


@pytest.fixture
def sample_video_dir(tmp_path, sample_videos) -> Path:
    """A private copy of the sample clips, so a test may add files beside them."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for video in sample_videos:
        shutil.copy(video, folder / video.name)
    return folder
