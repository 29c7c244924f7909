"""Benchmark metrics: accuracy, mean IoU, recall at IoU thresholds, with honest denominators.

Every item counts: an unparsable answer or a failed item scores 0 (accuracy 0, IoU 0). The
released evaluation dropped them from the denominator, which inflates scores; ``legacy=True``
reproduces that, for comparison only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

RECALL_THRESHOLDS = (0.3, 0.5, 0.7)


@dataclass(frozen=True)
class ItemScore:
    """One item's outcome: ``status`` is ``ok``, ``unparsed``, ``error`` or ``missing``."""

    id: str
    score: float
    status: str
    category: str = ""


def mean_percent(values: Iterable[float]) -> float:
    values = list(values)
    return 100.0 * sum(values) / len(values) if values else 0.0


def summarize(items: list[ItemScore], *, recall: bool = False, legacy: bool = False) -> dict:
    """Overall and per-category metrics in percent, with the counts that explain them.

    With ``recall`` (temporal grounding), ``score`` is an IoU and R@{0.3, 0.5, 0.7} (IoU >=
    threshold) are added; the main metric is then ``miou``, else ``accuracy``.
    """

    def block(group: list[ItemScore]) -> dict:
        counted = [i for i in group if i.status == "ok"] if legacy else group
        scores = [i.score for i in counted]
        out = {
            "num_items": len(group),
            "num_scored": len(counted),
            "num_unparsed": sum(i.status == "unparsed" for i in group),
            "num_errors": sum(i.status == "error" for i in group),
            "num_missing": sum(i.status == "missing" for i in group),
        }
        if recall:
            out["miou"] = mean_percent(scores)
            for threshold in RECALL_THRESHOLDS:
                out[f"recall@{threshold}"] = mean_percent(1.0 if s >= threshold else 0.0 for s in scores)
        else:
            out["accuracy"] = mean_percent(scores)
        return out

    by_category: dict[str, list[ItemScore]] = defaultdict(list)
    for item in items:
        if item.category:
            by_category[item.category].append(item)
    summary = block(items)
    summary["denominator"] = "answered items only (legacy)" if legacy else "all items"
    if by_category:
        summary["categories"] = {name: block(group) for name, group in sorted(by_category.items())}
    return summary
