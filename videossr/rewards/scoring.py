"""Combine parsing and task scores into one result per response; the task registry.

:func:`compute_score` has verl's custom-reward signature and returns the same keys for every task::

    score     what training optimises: (1 - format_weight) * reward + format_weight * format
    accuracy  the smooth task reward (IoU, count score, jigsaw displacement score), in [0, 1]
    exact     1.0 if the answer is exactly right, else 0.0 (the strict reward)
    parsed    1.0 if an answer in the asked format was found, else 0.0
    format    1.0 if the response's structure is valid for ``answer_format``, else 0.0

``reward`` is ``accuracy`` for ``reward_mode="smooth"`` (the paper's) and ``exact`` for
``reward_mode="strict"`` (the paper's ablation).

>>> compute_score("counting", "3,1,4", "3,1,4")["score"]
1.0
>>> compute_score("jigsaw", "no idea", "123456")
{'score': 0.0, 'accuracy': 0.0, 'exact': 0.0, 'parsed': 0.0, 'format': 1.0}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from videossr.rewards import counting, grounding, jigsaw
from videossr.rewards.extraction import ANSWER_FORMATS, extract_answer


@dataclass(frozen=True)
class TaskScorer:
    """How one task parses and scores a response.

    Attributes:
        parse_truth: ground truth text -> value; raises ``ValueError`` when malformed.
        parse: (response, parsed truth) -> answer or None.
        smooth: (answer, truth) -> float in [0, 1].
        exact: (answer, truth) -> bool.
    """

    parse_truth: Callable[[str], Any]
    parse: Callable[[str, Any], Any]
    smooth: Callable[[Any, Any], float]
    exact: Callable[[Any, Any], bool]


TASK_SCORERS: dict[str, TaskScorer] = {}
#: Other data_source names accepted for a task: the released jigsaw builder wrote "shuffled".
ALIASES = {"shuffled": "jigsaw"}
REWARD_MODES = ("smooth", "strict")
RESULT_KEYS = ("score", "accuracy", "exact", "parsed", "format")


def register_task(name: str, scorer: TaskScorer) -> None:
    """Add a task's scorer; a name may be registered once."""
    if name in TASK_SCORERS or name in ALIASES:
        raise ValueError(f"reward for task {name!r} is already registered")
    TASK_SCORERS[name] = scorer


register_task(
    "grounding",
    TaskScorer(
        parse_truth=grounding.parse_ground_truth_interval,
        parse=lambda response, truth: grounding.parse_interval(response),
        smooth=grounding.interval_iou,
        exact=grounding.is_exact_interval,
    ),
)
register_task(
    "counting",
    TaskScorer(
        parse_truth=counting.parse_ground_truth_counts,
        parse=lambda response, truth: counting.parse_counts(response),
        smooth=counting.counts_score,
        exact=lambda pred, truth: tuple(pred) == tuple(truth),
    ),
)
register_task(
    "jigsaw",
    TaskScorer(
        parse_truth=jigsaw.parse_ground_truth_order,
        parse=lambda response, truth: jigsaw.parse_order(response, len(truth)),
        smooth=jigsaw.order_score,
        exact=lambda pred, truth: pred == truth,
    ),
)


def get_scorer(data_source: str) -> TaskScorer:
    """The scorer of a task name (or alias); ``ValueError`` lists the known names otherwise."""
    name = ALIASES.get(data_source, data_source)
    scorer = TASK_SCORERS.get(name)
    if scorer is None:
        known = sorted(TASK_SCORERS) + sorted(ALIASES)
        raise ValueError(f"no reward for data_source {data_source!r}; known: {', '.join(known)}")
    return scorer


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
        data_source: ``grounding``, ``counting``, ``jigsaw`` (or the alias ``shuffled``).
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
        accuracy = exact = 0.0
    else:
        accuracy = min(1.0, max(0.0, float(scorer.smooth(answer, truth))))
        exact = 1.0 if scorer.exact(answer, truth) else 0.0
    reward = accuracy if reward_mode == "smooth" else exact
    format_score = 1.0 if format_ok else 0.0
    return {
        "score": (1.0 - format_weight) * reward + format_weight * format_score,
        "accuracy": accuracy,
        "exact": exact,
        "parsed": 0.0 if answer is None else 1.0,
        "format": format_score,
    }
