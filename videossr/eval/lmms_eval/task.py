"""The ``viubench`` lmms-eval task: docs, prompts and metrics (``eval/lmms_eval_tasks/viubench/``).

lmms-eval loads a task's data with ``datasets.load_dataset`` from a path fixed in its YAML; a
VIUBench file is the user's own (``eval/viubench.py build``), so the YAML loads a one-row
placeholder and :func:`load_docs` (the task's ``process_docs``) replaces it with the records of the
file named by ``$VIUBENCH_FILE``, read and checked by :func:`videossr.eval.viubench.load_benchmark`.
Each doc keeps its whole record as JSON (``record``), so every prompt and frame is exactly the
file's: nothing is re-decoded or rebuilt.

Prompts for lmms-eval's own model wrappers:

- chat wrappers (``doc_to_messages``): VIUBench's system message, then the user turn with each
  ``<video>`` placeholder replaced by a video given as its list of stored frame paths (the jigsaw's
  ``Clip k:`` labels stay between the clips);
- simple wrappers (``doc_to_visual`` + ``doc_to_text``): every frame as an image, in order, and
  the prompt without placeholders.

lmms-eval's message format has no field for a video's frame rate, so its wrappers stamp frames
with their own clock (qwen-vl-utils: 2 fps for a frame list), not the record's ``sample_fps``: a
grounding answer (seconds) is then on another clock than its ground truth. The ``videossr`` model
(:mod:`videossr.eval.lmms_eval.model`) reads each doc's record and gives every video its own frame
rate, exactly as ``eval/viubench.py run``.

Metrics: every subtype (its variant key), the task averages and ``overall``, each aggregated by
:func:`videossr.eval.viubench.score_benchmark` over the per-doc results, so lmms-eval reports the
numbers ``eval/viubench.py score`` gives for the same responses (percent). A subtype with no doc
in the run (``--limit``) aggregates to NaN.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from videossr.errors import ConfigError
from videossr.eval.backends.base import VIDEO_PLACEHOLDER
from videossr.eval.viubench import load_benchmark, score_benchmark, subtypes, task_order

#: The environment variable naming the ``viubench.json`` the task evaluates.
BENCHMARK_ENV = "VIUBENCH_FILE"
OVERALL = "overall"


def metric_names() -> list[str]:
    """The task's metrics in report order: subtypes (variant keys), task averages, ``overall``."""
    return [*subtypes(), *task_order(), OVERALL]


# ----------------------------------------------------------------------------- docs


def docs_of(records: list[dict[str, Any]], benchmark: str | Path) -> list[dict[str, Any]]:
    """lmms-eval docs of VIUBench records: flat columns plus the whole record as JSON."""
    path = str(Path(benchmark).resolve())
    return [
        {
            "id": record["id"],
            "subtype": record["subtype"],
            "question": record.get("question", ""),
            "ground_truth": str(record["ground_truth"]),
            "benchmark": path,
            "record": json.dumps(record, ensure_ascii=False),
        }
        for record in records
    ]


def benchmark_path() -> Path:
    """The file ``$VIUBENCH_FILE`` names.

    Raises:
        ConfigError: the variable is unset or empty.
    """
    value = os.environ.get(BENCHMARK_ENV, "").strip()
    if not value:
        raise ConfigError(
            f"set {BENCHMARK_ENV} to the viubench.json to evaluate (build one with: python eval/viubench.py build "
            "--frames-dir FRAMES --output-dir OUT; then VIUBENCH_FILE=OUT/viubench.json)"
        )
    return Path(value).expanduser()


def load_docs(dataset: Any = None):
    """The task's ``process_docs``: the docs of ``$VIUBENCH_FILE`` as a ``datasets.Dataset``.

    ``dataset`` (the YAML's one-row placeholder) is ignored.

    Raises:
        ConfigError: no variable, or a missing, empty or malformed benchmark file.
    """
    import datasets

    path = benchmark_path()
    return datasets.Dataset.from_list(docs_of(load_benchmark(path), path))


def record_of_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The VIUBench record a doc was made from."""
    return json.loads(doc["record"])


# ----------------------------------------------------------------------------- prompts


def _prompt_pieces(record: dict[str, Any]) -> list[str]:
    """The user prompt split at its ``<video>`` placeholders (kept), empty pieces dropped."""
    return [p for p in re.split(f"({re.escape(VIDEO_PLACEHOLDER)})", record["prompt"]) if p]


def doc_to_messages(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> list[dict[str, Any]]:
    """The doc in lmms-eval's chat format: VIUBench's system message and the user turn.

    Each video is ``{"type": "video", "url": [frame paths]}`` where its placeholder was.
    """
    record = record_of_doc(doc)
    videos = iter(record["videos"])
    content = []
    for piece in _prompt_pieces(record):
        if piece == VIDEO_PLACEHOLDER:
            content.append({"type": "video", "url": [str(f) for f in next(videos)["video"]]})
        else:
            content.append({"type": "text", "text": piece})
    return [
        {"role": "system", "content": [{"type": "text", "text": record["system"]}]},
        {"role": "user", "content": content},
    ]


def doc_to_visual(doc: dict[str, Any]) -> list:
    """Every stored frame of the doc's videos as an RGB image, in playback order (simple wrappers)."""
    from PIL import Image

    frames = []
    for video in record_of_doc(doc)["videos"]:
        for path in video["video"]:
            with Image.open(path) as image:
                frames.append(image.convert("RGB"))
    return frames


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    """The user prompt with its ``<video>`` placeholders removed (simple wrappers put visuals first)."""
    return "".join(p for p in _prompt_pieces(record_of_doc(doc)) if p != VIDEO_PLACEHOLDER).lstrip("\n")


def doc_to_target(doc: dict[str, Any]) -> str:
    return doc["ground_truth"]


# ----------------------------------------------------------------------------- metrics


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    """One doc's result under every metric: what the aggregation needs to score it."""
    item = {
        "id": doc["id"],
        "subtype": doc["subtype"],
        "ground_truth": doc["ground_truth"],
        "response": str(results[0]) if results else "",
        "benchmark": doc["benchmark"],
    }
    return {name: item for name in metric_names()}


def summary_of_items(items: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`~videossr.eval.viubench.score_benchmark` over per-doc results (one per id; the last wins)."""
    by_id = {item["id"]: item for item in items}
    records = [{"id": i, "subtype": it["subtype"], "ground_truth": it["ground_truth"]} for i, it in by_id.items()]
    return score_benchmark(records, {i: {"response": it["response"]} for i, it in by_id.items()})


def _aggregation(metric: str) -> Callable[[list[dict[str, Any]]], float]:
    def aggregate(items: list[dict[str, Any]]) -> float:
        summary = summary_of_items(items)
        if metric == OVERALL:
            return summary["overall"]
        value = summary["subtypes"].get(metric, summary["tasks"].get(metric))
        return float("nan") if value is None else value

    aggregate.__name__ = "aggregate_" + re.sub(r"\W", "_", metric)
    aggregate.__doc__ = f"lmms-eval aggregation of {metric!r}: VIUBench's scorer over the run's docs (percent)."
    return aggregate


#: One aggregation per metric (lmms-eval passes an aggregation the items only, not the metric's name).
AGGREGATIONS: dict[str, Callable[[list[dict[str, Any]]], float]] = {name: _aggregation(name) for name in metric_names()}
