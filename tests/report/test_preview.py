"""Contact sheets render every task and the CLI writes a PNG."""

from __future__ import annotations

import subprocess
import sys

import cv2
import pytest
from media import REPO_ROOT

from videossr.data.generation import GenerationSettings, generate_files, read_rows
from videossr.frames.folder import load_index
from videossr.report.preview import render_contact_sheet
from videossr.tasks.registry import spec_of


@pytest.fixture(scope="module")
def data(frames_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("preview_data")
    ids = [r["video_id"] for r in load_index(frames_dir)][:2]
    specs = [spec_of("grounding/Rotate90"), spec_of("counting/hard"), spec_of("jigsaw/8")]
    generate_files(frames_dir, out, [(s, ids) for s in specs], GenerationSettings())
    return out


@pytest.mark.parametrize("key, blocks", [("grounding/rotate90", 1), ("counting/hard", 1), ("jigsaw/8", 8)])
def test_sheet_shows_every_frame_with_the_changes_marked(data, key, blocks, monkeypatch):
    import videossr.report.preview as preview

    grids = []  # one grid of thumbnails per video of the prompt (jigsaw: one per clip)
    real_grid = preview._grid
    monkeypatch.setattr(preview, "_grid", lambda thumbs, *a: grids.append(len(thumbs)) or real_grid(thumbs, *a))
    row = read_rows(data / f"{key}.parquet")[0]
    sheet = render_contact_sheet(row)
    assert len(grids) == blocks and sum(grids) == 48  # every frame the model sees, once
    assert sheet.ndim == 3 and sheet.shape[1] > 1000
    red = (sheet[..., 2] > 200) & (sheet[..., 1] < 60) & (sheet[..., 0] < 60)
    yellow = (sheet[..., 2] > 200) & (sheet[..., 1] > 200) & (sheet[..., 0] < 40)
    if key == "grounding/rotate90":
        assert red.sum() > 1000  # the perturbed span's red borders
    if key == "counting/hard":
        assert yellow.sum() > 1000  # shape outlines and frame borders
    # 48 thumbnails in rows of 8 (jigsaw: one block of 6 per clip) below the text.
    assert sheet.shape[0] > 6 * 100


@pytest.mark.slow
def test_cli_writes_a_png_and_rejects_a_bad_index(data, tmp_path):
    script = REPO_ROOT / "pretext_tasks" / "preview.py"
    target = tmp_path / "sheet.png"
    result = subprocess.run(
        [sys.executable, str(script), str(data / "jigsaw/8.parquet"), "--index", "1", "--output", str(target)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(target)) is not None
    result = subprocess.run(
        [sys.executable, str(script), str(data / "jigsaw/8.parquet"), "--index", "9"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "outside 0..1" in result.stderr
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "none.parquet")], capture_output=True, text=True
    )
    assert result.returncode == 2 and "not found" in result.stderr
