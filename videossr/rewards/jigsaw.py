"""Temporal Jigsaw reward: ``1 - E / E_max`` over clip positions.

``E`` is the sum over clips of |position in the prediction - position in the truth|, and
``E_max = n * n // 2`` the displacement of the fully reversed order. Format (the released
scorer's): the stripped response must be a permutation of the true digits; otherwise 0.

>>> order_score(parse_order("213456", 6), "123456")
0.8888888888888888
>>> parse_order("1 2 3 4 5 6", 6) is None
True
"""

from __future__ import annotations


def parse_order(response: str, num_clips: int) -> str | None:
    """The stripped response if it is a permutation of ``1..num_clips``; else None."""
    if not isinstance(response, str):
        return None
    answer = response.strip()
    expected = "".join(str(k) for k in range(1, num_clips + 1))
    return answer if sorted(answer) == sorted(expected) else None


def parse_ground_truth_order(ground_truth: str) -> str:
    """The true order; raises ``ValueError`` unless it is a permutation of ``1..n`` (n <= 9)."""
    truth = ground_truth.strip() if isinstance(ground_truth, str) else ""
    n = len(truth)
    if not 1 <= n <= 9 or sorted(truth) != [str(k) for k in range(1, n + 1)]:
        raise ValueError(f"malformed jigsaw ground truth {ground_truth!r}: expected a permutation of 1..n")
    return truth


def order_score(pred: str, truth: str) -> float:
    """``1 - E / E_max`` (see the module docstring), in [0, 1]."""
    n = len(truth)
    max_error = n * n // 2
    if max_error == 0:
        return 1.0
    error = sum(abs(pred.index(digit) - truth.index(digit)) for digit in truth)
    return max(0.0, 1.0 - error / max_error)
