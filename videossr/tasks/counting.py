"""Object Counting: draw filled circles, squares and triangles on some frames; count each shape.

For each shape in the order circle, square, triangle: pick 1..F frames not used by another shape,
frames of the same shape more than 8 positions apart; each picked frame gets 1..I instances of
that one shape (Easy: F = I = 3, Hard: F = I = 4). Each instance: colour channels uniform in
50..255, size uniform in 20..40 % of the frame's shorter side (square and triangle side, circle
diameter), rotation uniform in 0..360 degrees, centre in the central 70 % of the frame at least
0.75 x size from its edge, up to 20 tries to stay ``size`` away from earlier centres on the frame.
The answer is the total per shape, ``"circles,squares,triangles"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from videossr.errors import ConfigError, VideoError
from videossr.tasks import COUNTING
from videossr.tasks.answers import counting_answer
from videossr.tasks.frames import VideoFrames
from videossr.tasks.prompts import COUNTING_QUESTION, single_video_user_message
from videossr.tasks.sample import Sample

SHAPES = ("circle", "square", "triangle")
MIN_FRAME_GAP = 8  # frames of one shape are more than this many positions apart
CENTRAL_FRACTION = 0.7
SIZE_RANGE = (0.2, 0.4)  # of the shorter side
MARGIN_PER_SIZE = 0.75
PLACEMENT_TRIES = 20
COLOR_RANGE = (50, 255)
MIN_SHORT_SIDE = 20  # below this, shapes would be a few pixels wide


@dataclass(frozen=True)
class Difficulty:
    name: str
    max_frames_per_shape: int
    max_instances_per_frame: int


DIFFICULTIES = {"easy": Difficulty("easy", 3, 3), "hard": Difficulty("hard", 4, 4)}


def get_difficulty(name: str) -> Difficulty:
    """``easy`` or ``hard``; raises :class:`ConfigError` naming the choices otherwise."""
    if name not in DIFFICULTIES:
        raise ConfigError(f"--difficulty must be one of {', '.join(DIFFICULTIES)}, got {name!r}")
    return DIFFICULTIES[name]


def choose_shape_frames(num_frames: int, difficulty: Difficulty, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Which frame carries which shape and how many instances, sorted by frame index."""
    available = set(range(num_frames))
    chosen: list[dict[str, Any]] = []
    for shape in SHAPES:
        wanted = int(rng.integers(1, difficulty.max_frames_per_shape + 1))
        picked: list[int] = []
        for candidate in rng.permutation(sorted(available)):
            if all(abs(int(candidate) - other) > MIN_FRAME_GAP for other in picked):
                picked.append(int(candidate))
                if len(picked) == wanted:
                    break
        available.difference_update(picked)
        for frame_idx in picked:
            instances = int(rng.integers(1, difficulty.max_instances_per_frame + 1))
            chosen.append({"frame_idx": frame_idx, "shape": shape, "num_instances": instances})
    return sorted(chosen, key=lambda entry: entry["frame_idx"])


def place_instances(width: int, height: int, count: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Colour, size, angle and centre of ``count`` instances on a ``width x height`` frame."""
    short_side = min(width, height)
    central_w, central_h = int(width * CENTRAL_FRACTION), int(height * CENTRAL_FRACTION)
    offset_x, offset_y = (width - central_w) // 2, (height - central_h) // 2
    instances: list[dict[str, Any]] = []
    for _ in range(count):
        color = [int(c) for c in rng.integers(COLOR_RANGE[0], COLOR_RANGE[1] + 1, size=3)]
        size = int(rng.integers(int(short_side * SIZE_RANGE[0]), int(short_side * SIZE_RANGE[1]) + 1))
        margin = int(size * MARGIN_PER_SIZE)
        x_range = (offset_x + margin, offset_x + central_w - margin)
        y_range = (offset_y + margin, offset_y + central_h - margin)
        if x_range[0] >= x_range[1] or y_range[0] >= y_range[1]:
            # The central region is too small for this size: anywhere the shape fits.
            x_range = (min(margin, width // 2), max(width - margin, width // 2))
            y_range = (min(margin, height // 2), max(height - margin, height // 2))
        for _ in range(PLACEMENT_TRIES):
            center = (int(rng.integers(x_range[0], x_range[1] + 1)), int(rng.integers(y_range[0], y_range[1] + 1)))
            if all(math.dist(center, other["center"]) >= size for other in instances):
                break
        angle = float(rng.uniform(0.0, 360.0))
        instances.append({"center": list(center), "size": size, "angle_deg": angle, "color_bgr": color})
    return instances


def shape_polygon(shape: str, center: tuple[int, int], size: int, angle_deg: float) -> np.ndarray | None:
    """Vertices (``(k, 2)`` int32) of a square or equilateral triangle; None for a circle."""
    if shape == "circle":
        return None
    if shape == "square":
        half = size / 2
        points = np.array([[-half, -half], [half, -half], [half, half], [-half, half]], dtype=np.float64)
    elif shape == "triangle":
        tri_height = size * math.sqrt(3) / 2
        points = np.array([[0, -tri_height / 2], [-size / 2, tri_height / 2], [size / 2, tri_height / 2]])
    else:
        raise ValueError(f"unknown shape {shape!r}")
    theta = math.radians(angle_deg)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return np.rint(points @ rotation.T + np.asarray(center)).astype(np.int32)


def draw_shapes(image: np.ndarray, shape: str, instances: list[dict[str, Any]]) -> np.ndarray:
    """A copy of ``image`` with the filled ``instances`` of ``shape`` drawn on it."""
    canvas = image.copy()
    for instance in instances:
        center, size, color = tuple(instance["center"]), instance["size"], tuple(instance["color_bgr"])
        polygon = shape_polygon(shape, center, size, instance["angle_deg"])
        if polygon is None:
            cv2.circle(canvas, center, size // 2, color, thickness=-1)
        else:
            cv2.fillPoly(canvas, [polygon], color)
    return canvas


def make_counting_sample(video: VideoFrames, difficulty: Difficulty, rng: np.random.Generator) -> Sample:
    """One counting sample of ``video``; raises :class:`VideoError` for frames too small to draw on."""
    width, height = video.size
    if min(width, height) < MIN_SHORT_SIDE:
        raise VideoError(f"frames of {width}x{height} are too small to draw shapes on (shorter side < {MIN_SHORT_SIDE})")
    shape_frames = choose_shape_frames(video.num_frames, difficulty, rng)
    frames: list = [video.path(i) for i in range(video.num_frames)]
    counts = dict.fromkeys(SHAPES, 0)
    for entry in shape_frames:
        entry["instances"] = place_instances(width, height, entry["num_instances"], rng)
        frames[entry["frame_idx"]] = draw_shapes(video.load(entry["frame_idx"]), entry["shape"], entry["instances"])
        counts[entry["shape"]] += entry["num_instances"]
    count_list = [counts[shape] for shape in SHAPES]
    return Sample(
        task=COUNTING,
        video_id=video.video_id,
        videos=[frames],
        user_message=single_video_user_message(COUNTING_QUESTION),
        ground_truth=counting_answer(count_list),
        sample_fps=video.sample_fps,
        info={
            "difficulty": difficulty.name,
            "counts": count_list,
            "shape_frames": [
                {"frame_idx": e["frame_idx"], "shape": e["shape"], "num_instances": e["num_instances"]}
                for e in shape_frames
            ],
        },
        params={"instances": {str(e["frame_idx"]): e["instances"] for e in shape_frames}},
    )
