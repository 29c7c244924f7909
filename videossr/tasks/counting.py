"""Object Counting: draw filled circles, squares and triangles on some frames; count each shape.

For each shape in the order circle, square, triangle: pick 1..F frames not used by another shape,
frames of the same shape more than 8 positions apart; each picked frame gets 1..I instances of
that one shape (Easy: F = I = 3, Hard: F = I = 4). Each instance: colour channels uniform in
50..255, size uniform in 20..40 % of the frame's shorter side (square and triangle side, circle
diameter), rotation uniform in 0..360 degrees. The answer is the total per shape,
``"circles,squares,triangles"``.

Where the centres go is the *placement* (:data:`PLACEMENTS`, recorded in each sample's params):

- ``separate`` (default): no two instances of a frame overlap: their exact drawn outlines (rounded
  polygon vertices, the circle's drawn radius, any rotation) keep at least :func:`gap_px` pixels
  apart and lie wholly inside the frame, so every marked frame shows exactly its declared number
  of separate shapes. Centres are first drawn uniformly in the paper's window (below); when the
  frame cannot hold the instances apart, things give way in the fixed order of :data:`FALLBACKS`:
  the window widens (outline inside the central 70 %, then 85 %, then anywhere in the frame), then
  the sizes shrink towards the bottom of the 20..40 % range, then below it (to 10 %), and last an
  instance is dropped (the declared count always equals what is drawn). Counts, frames, colours
  and rotations keep the paper's distributions; what gave way is recorded per frame in
  ``params["gave_way"]``, and an instance whose size gave way keeps its drawn size as
  ``size_drawn``. How often each step is needed: docs/tasks.md, "Object Counting: placement".
- ``released``: the released code's rule, reproduced draw for draw: centre inside the central 70 %
  of the frame at least 0.75 x size from its edge, up to 20 tries to stay ``size`` away from
  earlier centres on the frame, then placed anyway (instances may overlap, even hide each other).

This module draws in memory only; it never reads or writes files itself.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from videossr.errors import ConfigError, VideoError
from videossr.frames.folder import VideoFrames
from videossr.rewards import counting as counting_reward
from videossr.tasks import COUNTING
from videossr.tasks.ground_truths import counting_truth
from videossr.tasks.prompts import COUNTING_QUESTION, single_video_user_message
from videossr.tasks.registry import BenchmarkSubtype, PretextTask, TaskScorer, register_task
from videossr.tasks.sample import Sample

logger = logging.getLogger(__name__)

SHAPES = ("circle", "square", "triangle")
MIN_FRAME_GAP = 8  # frames of one shape are more than this many positions apart
CENTRAL_FRACTION = 0.7
SIZE_RANGE = (0.2, 0.4)  # of the shorter side
MARGIN_PER_SIZE = 0.75
PLACEMENT_TRIES = 20  # released placement: tries to keep centres ``size`` apart
COLOR_RANGE = (50, 255)
MIN_SHORT_SIDE = 20  # below this, shapes would be a few pixels wide

#: Placement rules: ``separate`` (default, no overlaps) and ``released`` (the released code's).
SEPARATE = "separate"
RELEASED = "released"
PLACEMENTS = (SEPARATE, RELEASED)
DEFAULT_PLACEMENT = SEPARATE
#: The placement of rows written before placement was recorded: they all used the released rule.
UNRECORDED_PLACEMENT = RELEASED

#: Least distance between the exact outlines of two shapes on a frame: this fraction of the shorter
#: side, at least MIN_GAP_PX. OpenCV's fill touches pixels up to 1 px outside the exact outline
#: (tested in tests/tasks/test_counting_placement.py), so 4 px keeps two shapes' pixels more than sqrt(2)
#: px apart: they never touch, not even 8-connected, and never merge into one blob.
GAP_FRACTION = 0.02
MIN_GAP_PX = 4
#: Separate placement keeps each exact outline this far inside the frame, so no drawn pixel is cut off.
EDGE_PX = 1

#: What gives way, in this order, when a frame cannot hold its instances apart (``none``: nothing).
FALLBACKS = ("none", "window_70", "window_85", "frame_window", "shrink_in_range", "shrink_below_range", "drop_instance")
#: The widened windows, in order: the whole outline inside the central 70 % of the frame (the
#: paper's region with the shape's real extent as margin instead of 0.75 x size), the central 85 %,
#: anywhere in the frame.
WIDER_WINDOWS = (("window_70", 0.7), ("window_85", 0.85), ("frame_window", 1.0))
#: ``shrink_in_range`` steps: size -> low + (size - low) * t, low = 20 % of the shorter side.
SHRINK_IN_RANGE = (2 / 3, 1 / 3, 0.0)
#: ``shrink_below_range`` steps: size -> low * f; the last is the floor (10 % of the shorter side).
SHRINK_BELOW_RANGE = (0.8, 0.65, 0.5)
#: Separate placement: candidate centres drawn per instance, and fresh starts of a frame per step.
CANDIDATES_PER_INSTANCE = 128
RESTARTS_PER_STEP = 6


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


def check_placement(name: str) -> str:
    """``name`` if it is one of :data:`PLACEMENTS`; raises :class:`ConfigError` naming them otherwise."""
    if name not in PLACEMENTS:
        raise ConfigError(f"--placement must be one of {', '.join(PLACEMENTS)}, got {name!r}")
    return name


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
        for frame_pos in picked:
            instances = int(rng.integers(1, difficulty.max_instances_per_frame + 1))
            chosen.append({"frame_pos": frame_pos, "shape": shape, "num_instances": instances})
    return sorted(chosen, key=lambda entry: entry["frame_pos"])


def size_bounds(width: int, height: int) -> tuple[int, int]:
    """The paper's size range in pixels, both ends included: 20 % and 40 % of the shorter side."""
    short_side = min(width, height)
    return int(short_side * SIZE_RANGE[0]), int(short_side * SIZE_RANGE[1])


def gap_px(width: int, height: int) -> int:
    """Least distance in pixels between the exact outlines of two shapes on a frame."""
    return max(MIN_GAP_PX, round(GAP_FRACTION * min(width, height)))


def _paper_window(width: int, height: int, size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Inclusive centre ranges ``(x_range, y_range)`` of the released rule for one size."""
    central_w, central_h = int(width * CENTRAL_FRACTION), int(height * CENTRAL_FRACTION)
    offset_x, offset_y = (width - central_w) // 2, (height - central_h) // 2
    margin = int(size * MARGIN_PER_SIZE)
    x_range = (offset_x + margin, offset_x + central_w - margin)
    y_range = (offset_y + margin, offset_y + central_h - margin)
    if x_range[0] >= x_range[1] or y_range[0] >= y_range[1]:
        # The central region is too small for this size: anywhere the shape fits.
        x_range = (min(margin, width // 2), max(width - margin, width // 2))
        y_range = (min(margin, height // 2), max(height - margin, height // 2))
    return x_range, y_range


def place_instances(width: int, height: int, count: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """The released placement: colour, size, angle and centre of ``count`` instances (may overlap).

    Draw order and arithmetic are the released code's, so a seed gives the same instances as ever.
    """
    short_side = min(width, height)
    instances: list[dict[str, Any]] = []
    for _ in range(count):
        color = [int(c) for c in rng.integers(COLOR_RANGE[0], COLOR_RANGE[1] + 1, size=3)]
        size = int(rng.integers(int(short_side * SIZE_RANGE[0]), int(short_side * SIZE_RANGE[1]) + 1))
        x_range, y_range = _paper_window(width, height, size)
        for _ in range(PLACEMENT_TRIES):
            center = (int(rng.integers(x_range[0], x_range[1] + 1)), int(rng.integers(y_range[0], y_range[1] + 1)))
            if all(math.dist(center, other["center"]) >= size for other in instances):
                break
        angle = float(rng.uniform(0.0, 360.0))
        instances.append({"center": list(center), "size": size, "angle_deg": angle, "color_bgr": color})
    return instances


def _unit_points(shape: str, size: int) -> np.ndarray:
    """Vertices of the unrotated square or triangle of ``size``, centred on the origin (float)."""
    if shape == "square":
        half = size / 2
        return np.array([[-half, -half], [half, -half], [half, half], [-half, half]], dtype=np.float64)
    if shape == "triangle":
        tri_height = size * math.sqrt(3) / 2
        return np.array([[0, -tri_height / 2], [-size / 2, tri_height / 2], [size / 2, tri_height / 2]])
    raise ValueError(f"unknown shape {shape!r}")


def shape_polygon(shape: str, center: tuple[int, int], size: int, angle_deg: float) -> np.ndarray | None:
    """Vertices (``(k, 2)`` int32, pixels) of a square or equilateral triangle; None for a circle."""
    if shape == "circle":
        return None
    points = _unit_points(shape, size)
    theta = math.radians(angle_deg)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return np.rint(points @ rotation.T + np.asarray(center)).astype(np.int32)


@dataclass(frozen=True)
class Outline:
    """The exact geometry ``draw_shapes`` fills for one instance: a convex ``core`` dilated by ``radius``.

    A circle is its centre dilated by its drawn radius ``size // 2``; a square or triangle is its
    drawn (rounded, rotated) polygon with radius 0. Coordinates in pixels (x right, y down).
    """

    core: np.ndarray  # (k, 2) float64, convex
    radius: float


def outline_of(shape: str, center: tuple[int, int], size: int, angle_deg: float) -> Outline:
    """The :class:`Outline` of one instance as drawn."""
    polygon = shape_polygon(shape, center, size, angle_deg)
    if polygon is None:
        return Outline(np.array([center], dtype=np.float64), float(size // 2))
    return Outline(polygon.astype(np.float64), 0.0)


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull of ``(n, 2)`` integer-valued points, in order.

    OpenCV's hull, exact here: every coordinate is a whole number of pixels (rounded polygon
    vertices, integer centres), which float32 holds exactly. Collinear points give a segment.
    """
    if len(points) == 1:
        return points.astype(np.float64)
    return cv2.convexHull(points.astype(np.float32))[:, 0, :].astype(np.float64)


def _distance_to_convex(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Euclidean distance of each of ``(n, 2)`` points to a filled convex ``polygon`` (0 inside)."""
    if len(polygon) == 1:
        return np.hypot(*(points - polygon[0]).T)
    starts, ends = polygon, np.roll(polygon, -1, axis=0)
    edges = ends - starts  # (m, 2)
    rel = points[:, None, :] - starts[None, :, :]  # (n, m, 2)
    lengths2 = np.maximum((edges**2).sum(axis=1), 1e-12)
    along = np.clip((rel * edges).sum(axis=2) / lengths2, 0.0, 1.0)
    nearest = rel - along[..., None] * edges
    distance = np.hypot(nearest[..., 0], nearest[..., 1]).min(axis=1)
    if len(polygon) >= 3:
        cross = edges[None, :, 0] * rel[..., 1] - edges[None, :, 1] * rel[..., 0]
        distance[(cross >= 0).all(axis=1) | (cross <= 0).all(axis=1)] = 0.0  # inside, either orientation
    return distance


def outline_gaps(moving: Outline, centers: np.ndarray, fixed: Outline) -> np.ndarray:
    """Distances (pixels, 0 when touching or overlapping) from ``fixed`` to ``moving`` shifted to each centre.

    ``moving``'s core is relative to its centre (centre at the origin); ``centers`` is ``(n, 2)``.
    Exact for convex shapes: the distance of translate(A, p) to B is the distance of p to the
    Minkowski difference B - A, a convex polygon dilated by both radii.
    """
    difference = _convex_hull((fixed.core[None, :, :] - moving.core[:, None, :]).reshape(-1, 2))
    distance = _distance_to_convex(np.asarray(centers, dtype=np.float64), difference)
    return np.maximum(distance - moving.radius - fixed.radius, 0.0)


def outline_distance(a: Outline, b: Outline) -> float:
    """Distance in pixels between two placed outlines (0 when they touch or overlap)."""
    return float(outline_gaps(a, np.zeros((1, 2)), b)[0])


def _relative_outline(shape: str, size: int, angle_deg: float) -> Outline:
    """The outline of an instance centred on the origin, as drawn at an integer centre."""
    return outline_of(shape, (0, 0), size, angle_deg)


def _region_window(
    width: int, height: int, relative: Outline, fraction: float, border: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Inclusive centre ranges keeping the whole outline inside the central ``fraction`` of the frame
    and ``border`` px inside the frame itself (empty when the outline cannot fit)."""
    low = relative.core.min(axis=0) - relative.radius
    high = relative.core.max(axis=0) + relative.radius
    ranges = []
    for axis, extent in enumerate((width, height)):
        central = int(extent * fraction)
        first = max((extent - central) // 2, border)
        last = min((extent - central) // 2 + central - 1, extent - 1 - border)
        ranges.append((math.ceil(first - low[axis]), math.floor(last - high[axis])))
    return ranges[0], ranges[1]


def _try_positions(
    shape: str,
    width: int,
    height: int,
    sizes: list[int],
    angles: list[float],
    window: float | None,
    gap: int,
    rng: np.random.Generator,
) -> list[tuple[int, int]] | None:
    """One attempt to centre every instance ``gap`` apart (largest first); None if one finds no room.

    ``window``: None for the paper's centre window, else the central fraction of the frame the
    whole outline must stay inside. Either way every outline stays EDGE_PX inside the frame.

    Each centre is the first of :data:`CANDIDATES_PER_INSTANCE` uniform draws in its window that
    keeps the gap to the shapes already placed: uniform over the free part of the window.
    """
    order = sorted(range(len(sizes)), key=lambda k: -sizes[k])  # big shapes fit worst into leftover room
    centers: list[tuple[int, int] | None] = [None] * len(sizes)
    placed: list[Outline] = []
    for k in order:
        relative = _relative_outline(shape, sizes[k], angles[k])
        x_range, y_range = _region_window(width, height, relative, 1.0 if window is None else window, EDGE_PX)
        if window is None:
            paper_x, paper_y = _paper_window(width, height, sizes[k])
            x_range = (max(x_range[0], paper_x[0]), min(x_range[1], paper_x[1]))
            y_range = (max(y_range[0], paper_y[0]), min(y_range[1], paper_y[1]))
        if x_range[0] > x_range[1] or y_range[0] > y_range[1]:
            return None
        candidates = np.stack(
            [
                rng.integers(x_range[0], x_range[1] + 1, size=CANDIDATES_PER_INSTANCE),
                rng.integers(y_range[0], y_range[1] + 1, size=CANDIDATES_PER_INSTANCE),
            ],
            axis=1,
        )
        free = np.ones(len(candidates), dtype=bool)
        for other in placed:
            free &= outline_gaps(relative, candidates, other) >= gap
        chosen = None
        for index in np.flatnonzero(free):
            center = (int(candidates[index, 0]), int(candidates[index, 1]))
            outline = outline_of(shape, center, sizes[k], angles[k])
            # Rounding a vertex at an exact .5 can depend on the centre: confirm on the drawn polygon.
            if all(outline_distance(outline, other) >= gap for other in placed):
                chosen = center, outline
                break
        if chosen is None:
            return None
        centers[k] = chosen[0]
        placed.append(chosen[1])
    return centers  # type: ignore[return-value]


def _size_steps(sizes: list[int], low: int) -> list[tuple[str, float | None, list[int]]]:
    """``(fallback, window, sizes)`` in the order things give way (``drop_instance`` comes after)."""
    steps: list[tuple[str, float | None, list[int]]] = [("none", None, sizes)]
    steps += [(name, fraction, sizes) for name, fraction in WIDER_WINDOWS]
    for t in SHRINK_IN_RANGE:
        steps.append(("shrink_in_range", 1.0, [min(s, int(round(low + (s - low) * t))) for s in sizes]))
    for f in SHRINK_BELOW_RANGE:
        steps.append(("shrink_below_range", 1.0, [max(1, min(s, int(low * f))) for s in sizes]))
    return steps


def _place_all(
    shape: str,
    width: int,
    height: int,
    sizes: list[int],
    angles: list[float],
    low: int,
    gap: int,
    rng: np.random.Generator,
) -> tuple[str, list[int], list[tuple[int, int]]] | None:
    """``(fallback, sizes, centres)`` of the first step of :func:`_size_steps` that holds them all."""
    for fallback, window, step_sizes in _size_steps(sizes, low):
        for _ in range(RESTARTS_PER_STEP):
            centers = _try_positions(shape, width, height, step_sizes, angles, window, gap, rng)
            if centers is not None:
                return fallback, step_sizes, centers
    return None


def place_separate(
    shape: str, width: int, height: int, count: int, rng: np.random.Generator
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Colour, size, angle and centre of up to ``count`` instances of ``shape`` that never overlap.

    Colours, sizes and angles are drawn as the paper says; centres as in the module docstring,
    with :data:`FALLBACKS` giving way in order until the frame holds them ``gap_px`` apart.
    Returns the instances (as many as could be placed, at least one; an instance whose size gave
    way carries its drawn size as ``size_drawn``) and what gave way (None if nothing did):
    ``{"fallback": <name>, "num_instances_drawn": count}``, plus ``"placed_by": <step>`` after
    ``drop_instance`` (the step that then placed the remaining instances).
    """
    low, high = size_bounds(width, height)
    gap = gap_px(width, height)
    draws = []
    for _ in range(count):
        color = [int(c) for c in rng.integers(COLOR_RANGE[0], COLOR_RANGE[1] + 1, size=3)]
        size = int(rng.integers(low, high + 1))
        angle = float(rng.uniform(0.0, 360.0))
        draws.append((color, size, angle))
    dropped = False
    placed = _place_all(shape, width, height, [d[1] for d in draws], [d[2] for d in draws], low, gap, rng)
    while placed is None:
        if len(draws) == 1:  # cannot happen on frames of MIN_SHORT_SIDE or more: a bug, not bad input
            raise RuntimeError(f"one {shape} of size {draws[0][1]} does not fit a {width}x{height} frame")
        draws = draws[:-1]  # the last instance gives way; the declared count follows what is drawn
        dropped = True
        placed = _place_all(shape, width, height, [d[1] for d in draws], [d[2] for d in draws], low, gap, rng)
    fallback, step_sizes, centers = placed
    instances = []
    for (color, drawn_size, angle), size, center in zip(draws, step_sizes, centers):
        instance = {"center": list(center), "size": int(size), "angle_deg": angle, "color_bgr": color}
        if size != drawn_size:
            instance["size_drawn"] = drawn_size
        instances.append(instance)
    if fallback == "none" and not dropped:
        return instances, None
    record = {"fallback": "drop_instance", "placed_by": fallback} if dropped else {"fallback": fallback}
    record["num_instances_drawn"] = count
    logger.debug("%d %s(s) on a %dx%d frame: %s", count, shape, width, height, record)
    return instances, record


def draw_shapes(image: np.ndarray, shape: str, instances: list[dict[str, Any]]) -> np.ndarray:
    """A copy of ``image`` with the filled ``instances`` of ``shape`` drawn on it (no anti-aliasing)."""
    canvas = image.copy()
    for instance in instances:
        center, size, color = tuple(instance["center"]), instance["size"], tuple(instance["color_bgr"])
        polygon = shape_polygon(shape, center, size, instance["angle_deg"])
        if polygon is None:
            cv2.circle(canvas, center, size // 2, color, thickness=-1)
        else:
            cv2.fillPoly(canvas, [polygon], color)
    return canvas


def count_drawn_shapes(original: np.ndarray, marked: np.ndarray) -> int:
    """Separate shapes a marked frame shows: 8-connected components of the pixels that differ.

    ``original`` and ``marked`` are ``(H, W, 3)`` uint8 arrays of the same size. Exact for frames
    drawn in memory on an original none of whose pixels has every channel in ``COLOR_RANGE`` (then
    every drawn pixel differs); after a JPEG round trip, or where a shape's colour equals the
    background, it is only an estimate (noise adds components, equal pixels may split one).
    """
    if original.shape != marked.shape:
        raise ValueError(f"frames differ in shape: {original.shape} and {marked.shape}")
    changed = (original != marked).any(axis=2).astype(np.uint8)
    num_labels, _ = cv2.connectedComponents(changed, connectivity=8)
    return int(num_labels) - 1  # label 0 is the unchanged background


def make_counting_sample(
    video: VideoFrames, difficulty: Difficulty, rng: np.random.Generator, placement: str = DEFAULT_PLACEMENT
) -> Sample:
    """One counting sample of ``video`` with the given ``placement`` rule (:data:`PLACEMENTS`).

    Raises :class:`VideoError` for frames too small to draw on (shorter side < MIN_SHORT_SIDE px)
    and :class:`ConfigError` for an unknown placement.
    """
    check_placement(placement)
    width, height = video.size
    if min(width, height) < MIN_SHORT_SIDE:
        raise VideoError(
            f"frames of {width}x{height} are too small to draw shapes on (shorter side < {MIN_SHORT_SIDE})"
        )
    shape_frames = choose_shape_frames(video.num_frames, difficulty, rng)
    frames: list = [video.path(i) for i in range(video.num_frames)]
    gave_way: dict[str, dict[str, Any]] = {}
    for entry in shape_frames:
        if placement == RELEASED:
            entry["instances"] = place_instances(width, height, entry["num_instances"], rng)
        else:
            entry["instances"], record = place_separate(entry["shape"], width, height, entry["num_instances"], rng)
            entry["num_instances"] = len(entry["instances"])
            if record is not None:
                gave_way[str(entry["frame_pos"])] = record
        frames[entry["frame_pos"]] = draw_shapes(video.load(entry["frame_pos"]), entry["shape"], entry["instances"])
    counts = dict.fromkeys(SHAPES, 0)
    for entry in shape_frames:
        counts[entry["shape"]] += entry["num_instances"]
    count_list = [counts[shape] for shape in SHAPES]
    params: dict[str, Any] = {
        "placement": placement,
        "instances": {str(e["frame_pos"]): e["instances"] for e in shape_frames},
    }
    if placement == SEPARATE:
        params["gave_way"] = gave_way
    return Sample(
        task=COUNTING,
        video_id=video.video_id,
        videos=[frames],
        user_message=single_video_user_message(COUNTING_QUESTION),
        ground_truth=counting_truth(count_list),
        sample_fps=video.sample_fps,
        info={
            "difficulty": difficulty.name,
            "counts": count_list,
            "shape_frames": [
                {"frame_pos": e["frame_pos"], "shape": e["shape"], "num_instances": e["num_instances"]}
                for e in shape_frames
            ],
        },
        params=params,
    )


class CountingTask(PretextTask):
    """Object Counting: variants ``easy`` (key ``counting/easy``) and ``hard`` (``counting/hard``)."""

    name = COUNTING
    default_variant = "easy"
    example_ground_truth = "3,1,4"
    reward = TaskScorer(
        parse_truth=counting_reward.parse_ground_truth_counts,
        parse=lambda response, truth: counting_reward.parse_counts(response),
        smooth=counting_reward.counts_score,
        strict=lambda answer, truth: tuple(answer) == tuple(truth),
    )
    benchmark_subtypes = (BenchmarkSubtype("easy", "Counting Easy"), BenchmarkSubtype("hard", "Counting Hard"))

    def variants(self) -> tuple[str, ...]:
        return tuple(DIFFICULTIES)

    def canonical_variant(self, text: str) -> str:
        return get_difficulty(text).name

    def variant_of_row(self, extra) -> str:
        return str(extra["difficulty"])

    def fingerprint(self, settings) -> dict:
        return {"counting_placement": settings.counting_placement}

    def sample_options(self, settings) -> dict:
        return {"placement": settings.counting_placement}

    def row_sample_options(self, params) -> dict:
        # Rows written before the placement was recorded all used the released rule.
        return {"placement": params.get("placement", UNRECORDED_PLACEMENT)}

    def make_sample(self, video, variant, rng, *, partner=None, placement: str = DEFAULT_PLACEMENT) -> Sample:
        return make_counting_sample(video, get_difficulty(variant), rng, placement=placement)

    def benchmark_hints(self, variant, row) -> dict:
        limits = DIFFICULTIES[variant]
        return {"task": self.name, "max_count": limits.max_frames_per_shape * limits.max_instances_per_frame}

    def benchmark_score(self, response: str, ground_truth: str) -> tuple[float, str | None]:
        counts = counting_reward.parse_counts(response)
        if counts is None:
            return 0.0, None
        truth = counting_reward.parse_ground_truth_counts(ground_truth)
        return counting_reward.per_shape_exact(counts, truth), ",".join(map(str, counts))

    def random_answer(self, hints, rng) -> str:
        # Each shape uniform in 1..max: 1/9 (easy) and 1/16 (hard) exact per shape, the paper's 11.1 / 6.3.
        return ",".join(str(int(rng.integers(1, hints["max_count"] + 1))) for _ in range(3))

    def preview_mark(self, row, video_pos, position, thumb, scale):
        from videossr.report.preview import YELLOW, mark_border

        shapes = {e["frame_pos"]: e["shape"] for e in (row["extra_info"].get("shape_frames") or [])}
        if position not in shapes:
            return None
        instances = json.loads(row["extra_info"].get("params") or "{}").get("instances", {})
        for instance in instances.get(str(position), []):
            center = (round(instance["center"][0] * scale), round(instance["center"][1] * scale))
            size = max(2, round(instance["size"] * scale))
            polygon = shape_polygon(shapes[position], center, size, instance["angle_deg"])
            if polygon is None:
                cv2.circle(thumb, center, size // 2 + 2, YELLOW, 2, cv2.LINE_AA)
            else:
                cv2.polylines(thumb, [polygon], True, YELLOW, 2, cv2.LINE_AA)
        mark_border(thumb, YELLOW, 3)
        return YELLOW

    def report_plots(self, rows) -> list[str]:
        from collections import Counter

        from videossr.report.html import PALETTE, svg_columns

        per_shape = [Counter() for _ in SHAPES]
        for row in rows:
            for k, value in enumerate(str(row["reward_model"]["ground_truth"]).split(",")[:3]):
                per_shape[k][int(value)] += 1
        top = max((max(c) for c in per_shape if c), default=1)
        return [
            svg_columns(
                [str(v) for v in range(1, top + 1)],
                [counter.get(v, 0) for v in range(1, top + 1)],
                title=f"counting: {shape}s per sample",
                color=PALETTE[3],
                width_px=300,
            )
            for shape, counter in zip(SHAPES, per_shape)
        ]


TASK = register_task(CountingTask())
