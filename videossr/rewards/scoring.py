"""Combine parsing and task scores into one result per response, for every registered task.

:func:`compute_score` has verl's custom-reward signature and returns the same keys for every task::

    score     what training optimises: (1 - format_weight) * reward + format_weight * format
    smooth    the smooth task reward (IoU, count score, jigsaw displacement score), in [0, 1]
    strict    1.0 if the answer is exactly right, else 0.0 (the strict reward)
    parsed    1.0 if an answer in the asked format was found, else 0.0
    format    1.0 if the response's structure is valid for ``answer_format``, else 0.0

``reward`` is the key named by ``reward_mode``: ``smooth`` (the paper's) or ``strict`` (the paper's
ablation). Both are always reported, so a run logs the other as a metric.

>>> compute_score("counting", "3,1,4", "3,1,4")["score"]
1.0
>>> compute_score("jigsaw", "no idea", "123456")
{'score': 0.0, 'smooth': 0.0, 'strict': 0.0, 'parsed': 0.0, 'format': 1.0}
"""

from __future__ import annotations

from typing import Any

from videossr.errors import ConfigError
from videossr.rewards.extraction import ANSWER_FORMATS, extract_answer
from videossr.tasks.registry import TaskScorer, get_task

REWARD_MODES = ("smooth", "strict")
RESULT_KEYS = ("score", "smooth", "strict", "parsed", "format")


def get_scorer(data_source: str) -> TaskScorer:
    """The reward of a registered task name or alias; ``ValueError`` lists the known names otherwise."""
    try:
        return get_task(data_source).reward
    except ConfigError as exc:
        raise ValueError(f"no reward for data_source {data_source!r} ({exc})") from None


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict | None = None,
    *,
    reward_mode: str = "smooth",
    answer_format: str = "direct",
    format_weight: float = 0.0,
    **kwargs: Any,
) -> dict[str, float]:
    """Score one response (see the module docstring for the keys).

    Args:
        data_source: a registered task (``grounding``, ``counting``, ``jigsaw``, the alias ``shuffled``, ...).
        solution_str: the model's response text.
        ground_truth: the row's ``reward_model.ground_truth``.
        extra_info: the row's ``extra_info`` (unused; accepted for verl).
        reward_mode: ``smooth`` or ``strict``.
        answer_format: ``direct`` (the paper: the whole response is the answer), ``answer_tags``
            (one ``<answer>...</answer>`` block) or ``think`` (the text after ``</think>``).
        format_weight: weight of the format term in ``score``, in [0, 1].
        kwargs: ignored (verl passes extra keywords).

    Raises:
        ValueError: unknown task or mode, or malformed ground truth (never for bad responses).
    """
    if reward_mode not in REWARD_MODES:
        raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, got {answer_format!r}")
    if not 0.0 <= format_weight <= 1.0:
        raise ValueError(f"format_weight must be in [0, 1], got {format_weight}")
    scorer = get_scorer(data_source)
    truth = scorer.parse_truth(ground_truth)
    answer_text, format_ok = extract_answer(solution_str, answer_format)
    answer = scorer.parse(answer_text, truth) if answer_text is not None else None
    if answer is None:
        smooth = strict = 0.0
    else:
        smooth = min(1.0, max(0.0, float(scorer.smooth(answer, truth))))
        strict = 1.0 if scorer.strict(answer, truth) else 0.0
    reward = smooth if reward_mode == "smooth" else strict
    format_score = 1.0 if format_ok else 0.0
    return {
        "score": (1.0 - format_weight) * reward + format_weight * format_score,
        "smooth": smooth,
        "strict": strict,
        "parsed": 0.0 if answer is None else 1.0,
        "format": format_score,
    }
