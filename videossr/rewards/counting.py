"""Object Counting reward: mean over the three shapes of ``max(0, 1 - |pred - true| / true)``.

Format (the released scorer's): every run of digits in the response is a number, and there must
be exactly three (circles, squares, triangles); otherwise 0.

>>> round(counts_score(parse_counts("3,1,4"), (3, 2, 4)), 4)  # (1 + 0.5 + 1) / 3
0.8333
>>> parse_counts("3, 1, 4 and 5") is None
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_DIGITS = re.compile(r"\d+")
_EPSILON = 1e-9
NUM_SHAPES = 3


def parse_counts(response: str) -> tuple[int, int, int] | None:
    """The three counts of a response with exactly three digit runs; else None."""
    if not isinstance(response, str):
        return None
    numbers = _DIGITS.findall(response)
    if len(numbers) != NUM_SHAPES:
        return None
    return tuple(int(n) for n in numbers)  # type: ignore[return-value]


def parse_ground_truth_counts(ground_truth: str) -> tuple[int, int, int]:
    """The true counts ``"c,s,t"``; raises ``ValueError`` for anything else."""
    parts = ground_truth.split(",") if isinstance(ground_truth, str) else []
    if len(parts) != NUM_SHAPES or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"malformed counting ground truth {ground_truth!r}: expected 'circles,squares,triangles'")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def count_score(pred: int, truth: int) -> float:
    """``max(0, 1 - |pred - truth| / truth)``; 1 for an exact count (also when truth is 0)."""
    if pred == truth:
        return 1.0
    return max(0.0, 1.0 - abs(pred - truth) / (abs(truth) + _EPSILON))


def counts_score(pred: Sequence[int], truth: Sequence[int]) -> float:
    """Mean of :func:`count_score` over the three shapes."""
    return sum(count_score(p, t) for p, t in zip(pred, truth)) / NUM_SHAPES


def per_shape_exact(pred: Sequence[int], truth: Sequence[int]) -> float:
    """Fraction of shapes counted exactly (VIUBench's counting metric)."""
    return sum(int(p == t) for p, t in zip(pred, truth)) / NUM_SHAPES
