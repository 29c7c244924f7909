"""Self-checks of generated rows against the frames they were made from (offline and online alike),
and a comparable view of whole output folders."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from videossr.tasks.counting import DIFFICULTIES, MIN_FRAME_GAP, SHAPES

PATTERN_VIDEOS = ("pattern_a", "pattern_b")  # every frame differs from every other


def load(path: str) -> np.ndarray:
    image = cv2.imread(path)
    assert image is not None, path
    return image.astype(np.int16)


def source_frame(frames_dir: Path, video_id: str, position: int) -> str:
    return str(Path(frames_dir) / video_id / f"{position}.jpg")


def check_grounding_row(row: dict, frames_dir: Path) -> None:
    """Frames outside the declared span are the source frames; frames inside differ from them."""
    extra = row["extra_info"]
    (video,) = row["videos"]
    frames = video["video"]
    start, length = extra["start_frame_pos"], extra["num_perturbed_frames"]
    assert 8 <= length <= 16 and 0 <= start <= 48 - length and len(frames) == 48
    fps = extra["sample_fps"]
    assert row["reward_model"]["ground_truth"] == f"{start / fps:.1f}-{(start + length) / fps:.1f}"
    for position, path in enumerate(frames):
        original = source_frame(frames_dir, extra["video_id"], position)
        if not start <= position < start + length:
            assert path == original, (extra["perturbation"], position)
            continue
        assert path != original, (extra["perturbation"], position)
        if extra["video_id"] in PATTERN_VIDEOS:
            difference = np.abs(load(path) - load(original)).mean()
            assert difference > 2.0, (extra["perturbation"], position, difference)


def check_counting_row(row: dict, frames_dir: Path) -> None:
    """Only the declared frames changed, counts add up, every shape appears, limits hold."""
    extra = row["extra_info"]
    limits = DIFFICULTIES[extra["difficulty"]]
    frames = row["videos"][0]["video"]
    shape_frames = extra["shape_frames"]
    declared = {e["frame_pos"] for e in shape_frames}
    assert len(declared) == len(shape_frames), "a frame carries one shape"
    for position, path in enumerate(frames):
        original = source_frame(frames_dir, extra["video_id"], position)
        assert (path != original) == (position in declared)
        if position in declared:
            assert np.abs(load(path) - load(original)).max() > 40  # a filled shape is there
    counts = [sum(e["num_instances"] for e in shape_frames if e["shape"] == s) for s in SHAPES]
    assert extra["counts"] == counts and row["reward_model"]["ground_truth"] == ",".join(map(str, counts))
    assert all(c >= 1 for c in counts)
    for shape in SHAPES:
        indices = sorted(e["frame_pos"] for e in shape_frames if e["shape"] == shape)
        assert 1 <= len(indices) <= limits.max_frames_per_shape
        assert all(b - a > MIN_FRAME_GAP for a, b in zip(indices, indices[1:]))
    assert all(1 <= e["num_instances"] <= limits.max_instances_per_frame for e in shape_frames)


def check_jigsaw_row(row: dict, frames_dir: Path) -> None:
    """The clips are the source clips in clip_order, and the answer decodes back to time order."""
    extra = row["extra_info"]
    order, num_clips = extra["clip_order"], extra["num_clips"]
    clip_length = 48 // num_clips
    assert sorted(order) == list(range(num_clips)) and len(row["videos"]) == num_clips
    assert row["prompt"][1]["content"].count("<video>") == num_clips
    for position, video in enumerate(row["videos"]):
        expected = [
            source_frame(frames_dir, extra["video_id"], order[position] * clip_length + i) for i in range(clip_length)
        ]
        assert video["video"] == expected
    restored = [order[int(digit) - 1] for digit in row["reward_model"]["ground_truth"]]
    assert restored == list(range(num_clips))


def check_row(row: dict, frames_dir: Path) -> None:
    {"grounding": check_grounding_row, "counting": check_counting_row, "jigsaw": check_jigsaw_row}[row["data_source"]](
        row, frames_dir
    )


def output_tree(folder: Path, skip: tuple[str, ...] = ("manifest.json",)) -> dict[str, object]:
    """Every output file's content, with the output folder's own path replaced by ``OUT``.

    Rows hold absolute frame paths, so two runs into different folders differ by that prefix
    only; parquet files are compared by their rows, text by text, the rest byte for byte.
    """
    from videossr.data.generation import read_rows

    contents: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name in skip or ".journal" in path.parts:
            continue
        key = str(path.relative_to(folder))
        if path.suffix == ".parquet":
            contents[key] = json.dumps(read_rows(path)).replace(str(folder), "OUT")
        elif path.suffix in (".jsonl", ".json"):
            contents[key] = path.read_text().replace(str(folder), "OUT")
        else:
            contents[key] = path.read_bytes()
    return contents


def replicate_frames(frames_dir: Path, target: Path, copies: int) -> Path:
    """A frames folder holding ``copies`` copies of every video of ``frames_dir`` (ids ``c<k>/<id>``).

    Long enough for a test to kill a run midway.
    """
    import shutil

    from videossr.frames.folder import load_index
    from videossr.io import write_jsonl_atomic

    target.mkdir(parents=True)
    records = []
    for copy in range(copies):
        for record in load_index(frames_dir):
            video_id = f"c{copy}/{record['video_id']}"
            shutil.copytree(frames_dir / record["video_id"], target / video_id)
            records.append({**record, "video_id": video_id})
    write_jsonl_atomic(target / "index.jsonl", sorted(records, key=lambda r: r["video_id"]))
    return target
