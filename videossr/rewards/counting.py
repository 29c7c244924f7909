"""Object Counting reward: mean over the three shapes of ``max(0, 1 - |pred - true| / true)``.

Format (the released scorer's): every run of digits in the response is a number, and there must
be exactly three (circles, squares, triangles); otherwise 0.

>>> round(counts_score(parse_counts("3,1,4"), (3, 2, 4)), 4)  # (1 + 0.5 + 1) / 3
0.8333
>>> parse_counts("3, 1, 4 and 5") is None
True

Numbers of any length are safe: a digit run longer than :data:`MAX_COUNT_DIGITS` (``int()`` refuses
more than 4,300 digits, and the score's division overflows a float from about 309) is read as
:data:`HUGE_COUNT`, which is wrong for every real count and scores 0 like any wildly wrong count.

>>> parse_counts("9" * 5000 + ",1,1")[0] == HUGE_COUNT
True
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_DIGITS = re.compile(r"\d+")
_EPSILON = 1e-9
NUM_SHAPES = 3
#: Digit runs longer than this (after leading zeros) are :data:`HUGE_COUNT`, not exact integers.
MAX_COUNT_DIGITS = 15
HUGE_COUNT = 10**MAX_COUNT_DIGITS


def _count_value(digits: str) -> int:
    """The value of a digit run (any Unicode decimal digits, as ``\\d`` matches), capped."""
    if len(digits) > MAX_COUNT_DIGITS:
        # int() of the first digits alone would misread "0000…03" or refuse 4,301+ digits.
        significant = "".join(str(unicodedata.decimal(c)) for c in digits).lstrip("0")
        if len(significant) > MAX_COUNT_DIGITS:
            return HUGE_COUNT
        digits = significant or "0"
    return int(digits)


def parse_counts(response: str) -> tuple[int, int, int] | None:
    """The three counts of a response with exactly three digit runs; else None."""
    if not isinstance(response, str):
        return None
    numbers = _DIGITS.findall(response)
    if len(numbers) != NUM_SHAPES:
        return None
    return tuple(_count_value(n) for n in numbers)  # type: ignore[return-value]


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
