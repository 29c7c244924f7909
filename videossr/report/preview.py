"""Contact sheets of data rows: every frame the model sees, in order, with what was done marked.

A sheet shows the question and the ground truth, then the frames as thumbnails labelled with
their position and their time on the model's clock (``i / sample_fps``). What a task changed is
marked by the row's task (``preview_mark``, ``preview_caption``): grounding marks the perturbed
span in red; counting outlines every drawn shape; jigsaw shows one row per clip, labelled with its
position and the original clip it is.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from videossr.tasks.registry import get_task

THUMB_WIDTH = 176
COLUMNS = 8
PAD = 6
FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_SCALE = 0.45
LABEL_SCALE = 0.38
WHITE, BLACK, RED, YELLOW, GREEN = (255, 255, 255), (0, 0, 0), (40, 40, 230), (0, 220, 255), (60, 200, 60)


def _wrap(text: str, width_px: int, scale: float = TEXT_SCALE) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}".strip()
            if cv2.getTextSize(candidate, FONT, scale, 1)[0][0] > width_px and line:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def _text_block(lines: list[str], width: int, color=WHITE, scale: float = TEXT_SCALE) -> np.ndarray:
    line_height = int(26 * scale / 0.45)
    block = np.zeros((line_height * len(lines) + PAD, width, 3), np.uint8)
    for k, line in enumerate(lines):
        cv2.putText(block, line, (PAD, line_height * (k + 1) - 6), FONT, scale, color, 1, cv2.LINE_AA)
    return block


def _load_thumb(path: str, thumb_size: tuple[int, int]) -> tuple[np.ndarray, float]:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        thumb = np.full((thumb_size[1], thumb_size[0], 3), 64, np.uint8)
        cv2.putText(thumb, "missing", (8, thumb_size[1] // 2), FONT, LABEL_SCALE, RED, 1, cv2.LINE_AA)
        return thumb, 1.0
    scale = thumb_size[0] / image.shape[1]
    return cv2.resize(image, thumb_size, interpolation=cv2.INTER_AREA), scale


def _label(thumb: np.ndarray, text: str, color=WHITE) -> None:
    (w, h), _ = cv2.getTextSize(text, FONT, LABEL_SCALE, 1)
    cv2.rectangle(thumb, (0, 0), (w + 6, h + 8), BLACK, -1)
    cv2.putText(thumb, text, (3, h + 4), FONT, LABEL_SCALE, color, 1, cv2.LINE_AA)


def mark_border(thumb: np.ndarray, color: tuple[int, int, int], thickness: int) -> None:
    """Frame a thumbnail in ``color`` (BGR), ``thickness`` pixels wide, in place."""
    cv2.rectangle(thumb, (0, 0), (thumb.shape[1] - 1, thumb.shape[0] - 1), color, thickness)


def render_contact_sheet(row: dict[str, Any]) -> np.ndarray:
    """A BGR image of ``row`` (a data-file row as a dict) for eyeballing."""
    extra = row["extra_info"]
    task = get_task(row["data_source"])
    first_frame = cv2.imread(row["videos"][0]["video"][0], cv2.IMREAD_COLOR)
    aspect = first_frame.shape[0] / first_frame.shape[1] if first_frame is not None else 9 / 16
    thumb_size = (THUMB_WIDTH, max(8, round(THUMB_WIDTH * aspect)))
    sheet_width = COLUMNS * (THUMB_WIDTH + PAD) + PAD
    fps = float(row["videos"][0]["sample_fps"])

    variant = task.variant_label(extra)
    fields = [
        row["data_source"],
        f"video {extra['video_id']}",
        variant,
        f"seed {extra['seed']}",
        f"sample_fps {fps:.3f}",
    ]
    header = ["  |  ".join(fields)]
    header += _wrap("Q: " + extra["question"], sheet_width - 2 * PAD)
    blocks = [
        _text_block(header, sheet_width),
        _text_block([f"Ground truth: {row['reward_model']['ground_truth']}"], sheet_width, GREEN),
    ]

    for video_pos, video in enumerate(row["videos"]):
        caption = task.preview_caption(row, video_pos)
        if caption is not None:
            blocks.append(_text_block([caption], sheet_width, YELLOW))
        thumbs = []
        for position, path in enumerate(video["video"]):
            thumb, scale = _load_thumb(path, thumb_size)
            color = task.preview_mark(row, video_pos, position, thumb, scale) or WHITE
            _label(thumb, f"#{position} {position / fps:.1f}s", color)
            thumbs.append(thumb)
        blocks.append(_grid(thumbs, thumb_size, sheet_width))
    return np.vstack(blocks)


def _grid(thumbs: list[np.ndarray], thumb_size: tuple[int, int], width: int) -> np.ndarray:
    rows = (len(thumbs) + COLUMNS - 1) // COLUMNS
    grid = np.zeros((rows * (thumb_size[1] + PAD) + PAD, width, 3), np.uint8)
    for k, thumb in enumerate(thumbs):
        r, c = divmod(k, COLUMNS)
        y, x = PAD + r * (thumb_size[1] + PAD), PAD + c * (thumb_size[0] + PAD)
        grid[y : y + thumb_size[1], x : x + thumb_size[0]] = thumb
    return grid


def render_frame_strip(
    frames: list[np.ndarray], times_s: list[float], header: list[str], span_s: tuple[float, float] | None = None
) -> np.ndarray:
    """A BGR contact sheet of already decoded frames (BGR, any size) in the order given.

    Used where no frame files exist (external benchmarks decode videos): each thumbnail is
    labelled ``#position time_s``; frames whose time lies in the half-open ``span_s`` (seconds,
    e.g. a grounding ground truth) get the red border of a grounding sheet. ``header`` lines are
    wrapped to the sheet's width. An empty ``frames`` gives the header alone.
    """
    sheet_width = COLUMNS * (THUMB_WIDTH + PAD) + PAD
    lines = [wrapped for line in header for wrapped in _wrap(line, sheet_width - 2 * PAD)]
    blocks = [_text_block(lines, sheet_width)]
    if frames:
        height, width = frames[0].shape[:2]
        thumb_size = (THUMB_WIDTH, max(8, round(THUMB_WIDTH * height / max(width, 1))))
        thumbs = []
        for position, (frame, time_s) in enumerate(zip(frames, times_s)):
            thumb = cv2.resize(frame, thumb_size, interpolation=cv2.INTER_AREA)
            color = WHITE
            if span_s is not None and span_s[0] <= time_s < span_s[1]:
                mark_border(thumb, RED, 4)
                color = RED
            _label(thumb, f"#{position} {time_s:.1f}s", color)
            thumbs.append(thumb)
        blocks.append(_grid(thumbs, thumb_size, sheet_width))
    return np.vstack(blocks)
