"""Anomaly Grounding reward: IoU of the predicted and the true time interval.

Format (the released scorer's): the whole response is ``<number>-<number>`` (white space around the
numbers allowed), start <= end; anything else scores 0.

    IoU = |pred ∩ true| / |pred ∪ true|;   when the union is ~0: 1 if the intersection > 0 else 0.

>>> interval_iou(parse_interval("2.0-4.0"), (3.0, 5.0))
0.3333333333333333
>>> parse_interval("The change happens at 2.0-4.0") is None
True

A number too long for a float (``float("9" * 400)`` is ``inf``) makes the response unparsed, so no
score is ever NaN.
"""

from __future__ import annotations

import math
import re

_INTERVAL = re.compile(r"^\s*([\d.]+)\s*-\s*([\d.]+)\s*$")
_EPSILON = 1e-9
#: Two interval ends are the same answer when they agree at the 0.1 s precision asked for.
EXACT_TOLERANCE_S = 0.05


def parse_interval(response: str) -> tuple[float, float] | None:
    """``(start_s, end_s)`` of a response that is exactly ``a-b`` with ``a <= b``; else None."""
    if not isinstance(response, str):
        return None
    match = _INTERVAL.match(response.strip())
    if not match:
        return None
    try:
        start, end = float(match.group(1)), float(match.group(2))
    except ValueError:  # e.g. "1.2.3"
        return None
    if not (math.isfinite(start) and math.isfinite(end)) or start > end:
        return None
    return start, end


def parse_ground_truth_interval(ground_truth: str) -> tuple[float, float]:
    """The true interval; raises ``ValueError`` because malformed ground truth is a data bug."""
    interval = parse_interval(ground_truth)
    if interval is None:
        raise ValueError(f"malformed grounding ground truth {ground_truth!r}: expected 'start-end' in seconds")
    return interval


def interval_iou(pred: tuple[float, float], truth: tuple[float, float]) -> float:
    """Temporal IoU of two ``(start, end)`` intervals (seconds), in [0, 1]."""
    intersection = max(0.0, min(pred[1], truth[1]) - max(pred[0], truth[0]))
    union = (pred[1] - pred[0]) + (truth[1] - truth[0]) - intersection
    if not (math.isfinite(intersection) and math.isfinite(union)):
        return 0.0  # only reachable with non-finite input; parse_interval never yields it
    if union < _EPSILON:
        return 1.0 if intersection > 0 else 0.0
    return min(1.0, max(0.0, intersection / union))


def is_exact_interval(pred: tuple[float, float], truth: tuple[float, float]) -> bool:
    """Both ends equal at the answer's 0.1 s precision."""
    return abs(pred[0] - truth[0]) < EXACT_TOLERANCE_S and abs(pred[1] - truth[1]) < EXACT_TOLERANCE_S
