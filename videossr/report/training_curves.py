"""Training curves of verl runs: the metrics verl's own file logger wrote, as one offline HTML page.

verl (0.9.1) logs each step's metrics through its ``Tracking`` backends; with ``file`` in
``trainer.logger`` its ``FileLogger`` writes one JSON object per logged step, ``{"step": N,
"data": {name: value}}``, to ``$VERL_FILE_LOGGER_PATH``. ``train/train.sh`` turns it on and points
it at ``RUN/metrics/<UTC start time>.jsonl``, a new file per launch, because ``FileLogger``
truncates the file it opens: a resumed run must not reuse its predecessor's. A run's files are
read in name order (start time); a step logged twice (a resume re-running steps after its last
checkpoint) keeps the later value. A torn last line (a killed run) is ignored with a warning.

The page overlays every run in each panel: the training batch's mean reward, the validation
reward's mean over tasks (when there are several), each task's validation reward (verl's
``val-core/<task>/reward/mean@N``) and share of answers in the task's format (our reward's
``parsed``, ``val-aux/<task>/parsed/mean@N``), the KL loss, the entropy, the
response length, the gradient norm, the step time, the throughput and the rollout-vs-actor
probability correlation. A panel whose metric no run logged is left out, and the page says which.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from videossr.errors import ConfigError
from videossr.report.html import PALETTE, esc, page, svg_lines

logger = logging.getLogger(__name__)

METRICS_DIR = "metrics"
#: ``(title, metric)`` of the fixed panels, in page order; validation panels come after the first.
PANELS: tuple[tuple[str, str], ...] = (
    ("Reward, training batch mean (critic/score/mean)", "critic/score/mean"),
    ("KL loss to the reference (actor/kl_loss)", "actor/kl_loss"),
    ("Entropy (actor/entropy)", "actor/entropy"),
    ("Response length, tokens (response_length/mean)", "response_length/mean"),
    ("Gradient norm (actor/grad_norm)", "actor/grad_norm"),
    ("Step time, s (timing_s/step)", "timing_s/step"),
    ("Throughput, tokens/s per GPU (perf/throughput)", "perf/throughput"),
    ("Rollout vs actor token-probability correlation", "training/rollout_actor_probs_pearson_corr"),
)
_VALIDATION = re.compile(r"^val-core/(?P<task>.+)/reward/mean@\d+$")
#: Our reward's share of answers in the task's format, as verl logs it for validation.
_PARSED = re.compile(r"^val-aux/(?P<task>.+)/parsed/mean@\d+$")
#: Not a verl metric: the mean over tasks of each validated step's task rewards (two tasks or more).
MEAN_VALIDATION = "validation reward, mean over tasks"


@dataclass
class CurveRun:
    """One training run: its metrics per step (numbers only) and where they came from."""

    label: str
    folder: Path
    files: list[Path]
    steps: dict[int, dict[str, float]] = field(default_factory=dict)

    def series(self, metric: str) -> list[tuple[float, float]]:
        return [(step, values[metric]) for step, values in sorted(self.steps.items()) if metric in values]


def metrics_files(path: str | Path) -> list[Path]:
    """The metrics files of a run: ``path`` itself (a ``.jsonl``), the ``.jsonl`` files of a metrics
    folder, or of ``RUN/metrics/``, in name order.

    Raises:
        ConfigError: none found.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    for folder in (path / METRICS_DIR, path):
        files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
        if files:
            return files
    raise ConfigError(
        f"{path}: no verl metrics (*.jsonl here or in {METRICS_DIR}/); train with trainer.logger including "
        '"file" (train/train.sh does so by default)'
    )


def _numbers(data: dict) -> dict[str, float]:
    out = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        out[str(key)] = float(value)
    return out


def read_steps(files: list[Path]) -> dict[int, dict[str, float]]:
    """Metrics per step of a run's files (later files win for a step logged twice).

    Raises:
        ConfigError: a line other than a file's last is not a step object.
    """
    steps: dict[int, dict[str, float]] = {}
    for path in files:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                step, data = int(entry["step"]), entry["data"]
                if not isinstance(data, dict):
                    raise TypeError("data is not an object")
            except (ValueError, KeyError, TypeError) as exc:
                if number == len(lines):
                    logger.warning("%s: ignoring a torn last line (%s)", path, exc)
                    continue
                raise ConfigError(f"{path}:{number}: not a verl metrics line ({exc}): {line[:80]}") from exc
            steps[step] = _numbers(data)  # a step logged again (after a resume) replaces the earlier one
    return steps


def load_run(path: str | Path) -> CurveRun:
    """One run folder (``trainer.default_local_dir``), metrics folder or metrics file."""
    files = metrics_files(path)
    path = Path(path)
    folder = path.parent if path.is_file() else path
    label = folder.name if folder.name != METRICS_DIR else folder.parent.name
    return CurveRun(label, folder, files, read_steps(files))


def _label_runs(runs: list[CurveRun]) -> None:
    """A label two runs share gets its parent folder's name added."""
    names = [r.label for r in runs]
    for run in runs:
        if names.count(run.label) > 1:
            run.label = f"{run.folder.parent.name}/{run.label}"


def validation_tasks(runs: list[CurveRun]) -> dict[str, list[str]]:
    """Validation metric names per task, over all runs (``val-core/<task>/reward/mean@N``)."""
    found: dict[str, list[str]] = {}
    for run in runs:
        for values in run.steps.values():
            for key in values:
                match = _VALIDATION.match(key)
                if match and key not in found.setdefault(match.group("task"), []):
                    found[match.group("task")].append(key)
    return dict(sorted(found.items()))


def parsed_metrics(runs: list[CurveRun]) -> dict[str, str]:
    """The validation share-of-parsed-answers metric per task (``val-aux/<task>/parsed/mean@N``)."""
    found: dict[str, str] = {}
    for run in runs:
        for values in run.steps.values():
            for key in values:
                match = _PARSED.match(key)
                if match:
                    found.setdefault(match.group("task"), key)
    return dict(sorted(found.items()))


def add_mean_validation(run: CurveRun) -> None:
    """Each validated step's :data:`MEAN_VALIDATION`: the mean of its tasks' rewards."""
    for values in run.steps.values():
        rewards = [value for key, value in values.items() if _VALIDATION.match(key)]
        if rewards:
            values[MEAN_VALIDATION] = sum(rewards) / len(rewards)


def _panel(title: str, metric: str, runs: list[CurveRun]) -> str | None:
    series = [(run.label, PALETTE[k % len(PALETTE)], run.series(metric)) for k, run in enumerate(runs)]
    if not any(points for _, _, points in series):
        return None
    chart = svg_lines(series, title=title)
    return f'<div class="plot curve" data-metric="{esc(metric)}">{chart}</div>'


def build_page(
    paths: list[str | Path], title: str = "Training curves", summary: list[str] | None = None
) -> tuple[str, list[CurveRun]]:
    """The HTML page of the runs at ``paths`` (each a run folder, metrics folder or file), and the runs.

    ``summary``: lines shown under the title as they are (e.g. a benchmark's verdict).

    Raises:
        ConfigError: no paths, or a path without metrics.
    """
    if not paths:
        raise ConfigError("pass at least one run folder")
    runs = [load_run(p) for p in paths]
    _label_runs(runs)
    panels, missing = [], []
    specs = list(PANELS[:1])
    tasks = validation_tasks(runs)
    if len(tasks) > 1:
        for run in runs:
            add_mean_validation(run)
        specs.append(("Validation reward, mean over tasks", MEAN_VALIDATION))
    for task, keys in tasks.items():
        specs += [(f"Validation reward, {task} ({key})", key) for key in keys]
    specs += [(f"Answers in the format, {task} ({key})", key) for task, key in parsed_metrics(runs).items()]
    specs += list(PANELS[1:])
    for panel_title, metric in specs:
        html = _panel(panel_title, metric, runs)
        if html is None:
            missing.append(metric)
        else:
            panels.append(html)
    rows = "".join(
        f"<tr><td>{esc(run.label)}</td><td>{len(run.steps)}</td>"
        f"<td>{max(run.steps) if run.steps else '&ndash;'}</td><td>{len(run.files)}</td>"
        f"<td><code>{esc(run.folder)}</code></td></tr>"
        for run in runs
    )
    validation = "" if tasks else " No run logged a validation (trainer.test_freq)."
    body = (
        f"<h1>{esc(title)}</h1>"
        + "".join(f"<pre class=summary>{esc(line)}</pre>" for line in summary or [])
        + "<p class=note>From the metrics verl's file logger wrote (one JSON line per step). Hover a point for its "
        "value. The same runs open in TensorBoard when trained with "
        '<code>trainer.logger=\'["console","file","tensorboard"]\'</code> (needs the tensorboard package; '
        f"<code>TENSORBOARD_DIR</code> sets its folder).{esc(validation)}</p>"
        f"<table><tr><th>run</th><th>steps logged</th><th>last step</th><th>files</th><th>folder</th></tr>{rows}"
        f"</table><div>{''.join(panels)}</div>"
        + (f"<p class=note id=missing>Not logged by any run: {esc(', '.join(missing))}.</p>" if missing else "")
    )
    return page(title, body), runs
