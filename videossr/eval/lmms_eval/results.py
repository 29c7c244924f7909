"""Reading lmms-eval's output: the results file of a run and the samples it logged.

``python -m lmms_eval ... --output_path OUT --log_samples`` writes, per model,
``OUT/<model>/<date>_results.json`` (every task's aggregated metrics under ``"metric,filter"``
keys, ``n-samples``, the run's config) and one ``<date>_samples_<task>.jsonl`` per task (a line per
doc: ``doc_id``, ``target``, ``filtered_resps`` (the answer after the task's filters), and the
task's per-doc result under each metric's name). A folder may hold several runs (dates); the
newest is read unless a results file is named.

For the ``viubench`` task the per-doc results carry the record id and the benchmark file
(:func:`videossr.eval.lmms_eval.task.process_results`), so :func:`viubench_responses` gives the
responses in the form of ``eval/viubench.py``'s responses file, to be scored by our scorer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videossr.errors import ConfigError
from videossr.io import iter_jsonl, read_json

RESULTS_GLOB = "*_results.json"
VIUBENCH_TASK = "viubench"
_RESULTS_NAME = re.compile(r"^(?P<date>.+)_results\.json$")


@dataclass
class TaskResult:
    """One task of an lmms-eval run: its metrics (``filter`` ``none`` or the first filter) and samples."""

    task: str
    metrics: dict[str, float]  # metric name -> value, as lmms-eval aggregated it (NaN for none)
    num_samples: int | None  # lmms-eval's n-samples "effective", None when absent
    samples_path: Path | None  # the logged samples, None without --log_samples


@dataclass
class LmmsEvalRun:
    """One ``*_results.json`` and what belongs to it."""

    results_path: Path
    model: str  # lmms-eval's --model
    model_args: str
    label: str  # a short name: the pretrained folder's name, else the model
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    version: str = ""


def is_lmms_eval_output(folder: str | Path) -> bool:
    """Whether ``folder`` (or a model folder directly in it) holds an lmms-eval results file."""
    folder = Path(folder)
    return folder.is_dir() and (
        any(folder.glob(RESULTS_GLOB)) or any(p.is_dir() and any(p.glob(RESULTS_GLOB)) for p in folder.iterdir())
    )


def results_files(folder: str | Path) -> list[Path]:
    """The newest results file of ``folder`` and of each model folder in it (lmms-eval's layout).

    Raises:
        ConfigError: no results file there.
    """
    folder = Path(folder)
    places = [folder] + sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    newest = []
    for place in places:
        found = sorted(place.glob(RESULTS_GLOB))  # the names start with the date: the last is the newest
        if found:
            newest.append(found[-1])
    if not newest:
        raise ConfigError(f"{folder}: no lmms-eval results file (*_results.json) here or in a folder below it")
    return newest


def _label(model: str, model_args: str) -> str:
    args = dict(part.split("=", 1) for part in model_args.split(",") if "=" in part)
    pretrained = args.get("pretrained") or args.get("model") or args.get("model_version")
    return Path(pretrained.rstrip("/")).name if pretrained else model


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_run(results_path: str | Path) -> LmmsEvalRun:
    """One lmms-eval run: the metrics of every task and the samples files logged beside it.

    Raises:
        ConfigError: the file is not JSON or not an lmms-eval results file.
    """
    path = Path(results_path)
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ConfigError(f"{path} is not an lmms-eval results file (no 'results' object)")
    config = data.get("config") or {}
    model = str(config.get("model") or data.get("model_name") or "?")
    model_args = str(config.get("model_args") or "")
    date = _RESULTS_NAME.match(path.name)
    run = LmmsEvalRun(
        path, model, model_args, _label(model, model_args), version=str(data.get("lmms_eval_version", ""))
    )
    for task, block in data["results"].items():
        metrics: dict[str, float] = {}
        for key, value in block.items():
            name, _, filter_name = key.partition(",")
            if not filter_name or "_stderr" in name or name in metrics:
                continue  # alias, stderr columns, or a second filter of a metric already read
            metrics[name] = _number(value)
        samples = path.with_name(f"{date.group('date')}_samples_{task}.jsonl") if date else None
        effective = (data.get("n-samples") or {}).get(task, {}).get("effective")
        run.tasks[task] = TaskResult(
            task,
            metrics,
            int(effective) if effective is not None else None,
            samples if samples and samples.is_file() else None,
        )
    return run


def read_samples(path: str | Path) -> list[dict[str, Any]]:
    """The lines of a samples file; ``ConfigError`` naming the line when one is not JSON."""
    try:
        return list(iter_jsonl(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def sample_response(sample: dict[str, Any]) -> str:
    """The answer lmms-eval scored: ``filtered_resps`` (or ``resps``), unwrapped to one string."""
    value = sample.get("filtered_resps", sample.get("resps", ""))
    while isinstance(value, list) and value:
        value = value[0]
    return "" if value is None or value == [] else str(value)


def viubench_responses(samples_path: str | Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """``(benchmark file, responses by record id)`` of a viubench samples file.

    Raises:
        ConfigError: a line without the viubench task's per-doc result, or lines naming different
            benchmark files.
    """
    from videossr.eval.lmms_eval.task import OVERALL

    benchmarks, responses = set(), {}
    for number, sample in enumerate(read_samples(samples_path), start=1):
        item = sample.get(OVERALL)
        if not isinstance(item, dict) or "id" not in item or "benchmark" not in item:
            raise ConfigError(f"{samples_path}: line {number} is not a viubench sample (no '{OVERALL}' result)")
        benchmarks.add(item["benchmark"])
        responses[str(item["id"])] = {"id": item["id"], "response": sample_response(sample)}
    if len(benchmarks) != 1:
        raise ConfigError(f"{samples_path}: the samples name {len(benchmarks)} benchmark files: {sorted(benchmarks)}")
    return Path(benchmarks.pop()), responses
