"""The results report: VIUBench runs and external (vqa/vtg) runs in one self-contained HTML file.

Reads result folders only (``summary.json``, ``responses.jsonl``, ``config.json`` and the
benchmark file their summary names, or lmms-eval's ``*_results.json`` and logged samples);
writes nothing but the report. A VIUBench run of lmms-eval (the ``viubench`` task) is scored by
our scorer from the responses lmms-eval logged and shown like our own runs; any other lmms-eval
task shows lmms-eval's metrics as it wrote them and a gallery of its logged samples. Scores shown in tables are
``summary.json``'s, exactly as the scorer wrote them; per-item scores, statuses and parsed answers
for the gallery are recomputed through the scorers' public functions (VIUBench:
:func:`videossr.eval.viubench.score_response`; external: :func:`videossr.eval.external.score_vqa`
/ ``score_vtg`` on the single item), so the report and the scorer cannot disagree.

Galleries are sampled: ``per_group`` items per subtype (VIUBench) or category (external), drawn
without replacement by a generator seeded from ``(seed, benchmark, group)``; the same seed and
files give the same sample. Runs of one benchmark share a gallery, so models are compared on the
same items.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from videossr.errors import ConfigError, VideoError
from videossr.io import read_json
from videossr.report.html import (
    PALETTE,
    REFERENCE_COLOR,
    anchor_id,
    bar_cell,
    esc,
    filter_bar,
    jpeg_data_uri,
    page,
    svg_columns,
    svg_hbars,
)
from videossr.tasks.seeds import derive_seed, rng_for

logger = logging.getLogger(__name__)

DEFAULT_PER_GROUP = 4
MAX_EXAMPLES = 5  # unparsed / failed examples listed per run
EXTERNAL_FRAMES = 8  # frames decoded per external item for its sheet
RESPONSE_CHARS = 2000  # longer responses are cut in the gallery (the full text stays in responses.jsonl)

# The paper's published VIUBench rows (SPEC §5). Per-subtype values are published here only for
# the random guess (counting and jigsaw; grounding is given as a range 25.2..25.9, so it is left
# out rather than invented); the other rows carry Overall only.
PUBLISHED_ROWS: tuple[tuple[str, float, dict[str, float]], ...] = (
    ("Random guess", 16.1, {"counting/easy": 11.1, "counting/hard": 6.3, "jigsaw/6": 0.1, "jigsaw/8": 0.0}),
    ("Qwen3-VL-8B-Instruct", 19.5, {}),
    ("VideoSSR-8B", 51.9, {}),
    ("GPT-5", 58.7, {}),
    ("Gemini-2.5-Pro", 56.7, {}),
)
PUBLISHED_NOTE = (
    "Reference rows (grey, italic) are the paper's published VIUBench scores (arXiv 2511.06281, Table 1 as "
    "quoted in the project's SPEC §5): Overall for every row; per-subtype values only for the random guess "
    "(counting 11.1 / 6.3, jigsaw 0.1 / 0.0; its grounding subtypes are published as the range 25.2-25.9 and are "
    "left blank). The per-subtype values of the other published rows could not be found and are not shown."
)


@dataclass
class Outcome:
    """One run's result on one item. ``status``: ok, unparsed, error or missing (as the scorers)."""

    response: str
    answer: str  # the parsed answer as text, "" when unparsed
    score: float  # in [0, 1]
    status: str
    error: str = ""


@dataclass
class Run:
    key: str  # r0, r1, ...: the data-s-<key> attribute of gallery items
    label: str
    kind: str  # viubench, vqa, vtg or lmms-eval (another task of an lmms-eval run)
    folder: Path
    summary: dict[str, Any]
    config: dict[str, Any]
    benchmark: Path
    records: list[dict[str, Any]]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    bench_tag: str = "b0"  # b0, b1, ...: one per benchmark file, the prefix of item anchors


# ----------------------------------------------------------------------------- loading


def _resolve_benchmark(summary: dict[str, Any], config: dict[str, Any], folder: Path, override: Path | None) -> Path:
    if override is not None:
        return override
    named = summary.get("benchmark") or config.get("benchmark")
    if not named:
        raise ConfigError(f"{folder}/summary.json names no benchmark file: pass --benchmark")
    path = Path(named)
    # A relative path was relative to where the run was started; try there, then beside the run.
    for candidate in (path, folder / path, folder.parent / path):
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(f"{folder}: benchmark file {named} not found (pass --benchmark PATH)")


def load_run(folder: str | Path, key: str, benchmark: Path | None = None) -> Run:
    """One result folder, its benchmark's records and every item's outcome.

    Raises:
        ConfigError: no ``summary.json``, an unknown kind of summary, or a missing benchmark file.
    """
    from videossr.eval.responses import read_responses

    folder = Path(folder)
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise ConfigError(f"{folder} is not a result folder (no summary.json; score it first)")
    summary = read_json(summary_path)
    config = read_json(folder / "config.json") if (folder / "config.json").is_file() else {}
    if "subtypes" in summary:
        kind = "viubench"
        from videossr.eval.viubench import LEGACY_SUBTYPES

        # A summary written before subtypes were named by variant keys: read under the new names.
        for counts in ("subtypes", "per_subtype_counts"):
            if isinstance(summary.get(counts), dict):
                summary[counts] = {LEGACY_SUBTYPES.get(k, k): v for k, v in summary[counts].items()}
    elif summary.get("kind") in ("vqa", "vtg"):
        kind = summary["kind"]
    else:
        raise ConfigError(f"{summary_path}: neither a VIUBench summary (subtypes) nor an external one (kind vqa/vtg)")
    path = _resolve_benchmark(summary, config, folder, benchmark)
    responses_path = folder / "responses.jsonl"
    responses = read_responses(responses_path) if responses_path.is_file() else {}
    model = summary.get("model") or config.get("model")
    label = Path(str(model)).name if model else str(summary.get("backend") or config.get("backend") or folder.name)
    if kind == "viubench":
        from videossr.eval.viubench import load_benchmark

        records = load_benchmark(path)
        outcomes = {r["id"]: _viubench_outcome(r, responses.get(r["id"])) for r in records}
    else:
        from videossr.eval.external import load_records

        records = load_records(path)
        outcomes = {r["id"]: _external_outcome(kind, r, responses.get(r["id"])) for r in records}
    return Run(key, label, kind, folder, summary, config, path, records, outcomes)


def load_runs(folder: str | Path, key: str, benchmark: Path | None = None) -> list[Run]:
    """The runs of a folder: one for our result folders, one per task of each lmms-eval run in it.

    Run keys are ``key`` (our folders) or ``key`` plus a letter per lmms-eval task.

    Raises:
        ConfigError: neither a result folder nor an lmms-eval output folder.
    """
    from videossr.eval.lmms_eval.results import is_lmms_eval_output, read_run, results_files

    folder = Path(folder)
    if (folder / "summary.json").is_file() or not is_lmms_eval_output(folder):
        return [load_run(folder, key, benchmark)]
    runs = []
    for path in results_files(folder):
        lmms_run = read_run(path)
        for task in lmms_run.tasks.values():
            runs.append(_lmms_eval_task_run(lmms_run, task, f"{key}{chr(ord('a') + len(runs))}", benchmark))
    return runs


def _lmms_eval_task_run(lmms_run, task, key: str, benchmark: Path | None) -> Run:
    """One task of an lmms-eval run as a report run (VIUBench: rescored by our scorer)."""
    from videossr.eval.lmms_eval import results as lmms_results

    folder = lmms_run.results_path.parent
    label = f"{lmms_run.label} (lmms-eval)"
    config = {
        "model": lmms_run.model_args or lmms_run.model,
        "backend": f"lmms-eval {lmms_run.version} --model {lmms_run.model}",
    }
    if task.samples_path is None:
        raise ConfigError(
            f"{lmms_run.results_path}: task {task.task} has no samples file (run lmms-eval with --log_samples)"
        )
    if task.task == lmms_results.VIUBENCH_TASK:
        from videossr.eval.viubench import load_benchmark, score_benchmark

        named, responses = lmms_results.viubench_responses(task.samples_path)
        path = benchmark or named
        if not path.is_file():
            raise ConfigError(f"{task.samples_path}: benchmark file {path} not found (pass --benchmark PATH)")
        records = load_benchmark(path)
        summary = {**score_benchmark(records, responses), **config}
        outcomes = {r["id"]: _viubench_outcome(r, responses.get(r["id"])) for r in records}
        return Run(key, label, "viubench", folder, summary, config, path, records, outcomes)
    records, outcomes = [], {}
    for sample in lmms_results.read_samples(task.samples_path):
        item_id = f"{task.task}/{sample.get('doc_id')}"
        records.append(
            {"id": item_id, "question": str(sample.get("input") or ""), "ground_truth": str(sample.get("target", ""))}
        )
        outcomes[item_id] = _lmms_eval_outcome(sample, task.metrics)
    summary = {"task": task.task, "metrics": task.metrics, "num_items": task.num_samples or len(records), **config}
    return Run(key, label, "lmms-eval", folder, summary, config, Path(task.task), records, outcomes)


def _lmms_eval_outcome(sample: dict[str, Any], metrics: dict[str, float]) -> Outcome:
    """A logged sample: its response, and the per-doc ``score`` / ``pred_answer`` its task recorded, if any."""
    from videossr.eval.lmms_eval.results import sample_response

    per_doc = next((sample[m] for m in metrics if isinstance(sample.get(m), dict)), {})
    score = per_doc.get("score", next((sample[m] for m in metrics if isinstance(sample.get(m), (int, float))), None))
    answer = per_doc.get("pred_answer", per_doc.get("pred", ""))
    return Outcome(sample_response(sample), str(answer or ""), float("nan") if score is None else float(score), "ok")


def _viubench_outcome(record: dict[str, Any], entry: dict[str, Any] | None) -> Outcome:
    from videossr.eval.viubench import read_response

    if entry is None:
        return Outcome("", "", 0.0, "missing")
    if entry.get("error"):
        return Outcome(str(entry.get("response") or ""), "", 0.0, "error", str(entry["error"]))
    response = str(entry.get("response", ""))
    score, answer = read_response(record, response)
    if answer is None:
        return Outcome(response, "", 0.0, "unparsed")
    return Outcome(response, answer, float(score), "ok")


def _external_outcome(kind: str, record: dict[str, Any], entry: dict[str, Any] | None) -> Outcome:
    from videossr.eval import external
    from videossr.eval.parsing import parse_option_letter, parse_time_span

    # Scored through the public scorer on the one item, so the gallery shows what the scorer counted.
    one = {record["id"]: entry} if entry is not None else {}
    if kind == "vqa":
        result = external.score_vqa([record], one)
        score = result["accuracy"] / 100
    else:
        result = external.score_vtg([record], one)
        score = result["miou"] / 100
    status = (
        "missing"
        if result["num_missing"]
        else "error"
        if result["num_errors"]
        else "unparsed"
        if result["num_unparsed"]
        else "ok"
    )
    response = str((entry or {}).get("response") or "")
    answer = ""
    if status == "ok":
        if kind == "vqa":
            answer = parse_option_letter(response, external.options_of(record["question"])) or ""
        else:
            span = parse_time_span(response)
            answer = f"{span[0]:g} - {span[1]:g}" if span else ""
    return Outcome(response, answer, float(score), status, str((entry or {}).get("error") or ""))


def label_runs(runs: list[Run]) -> None:
    """Make labels unique: a label two runs share gets the folder name added."""
    counts = defaultdict(int)
    for run in runs:
        counts[run.label] += 1
    for run in runs:
        if counts[run.label] > 1:
            run.label = f"{run.label} ({run.folder.name})"


# ----------------------------------------------------------------------------- sampling, sheets


def sample_ids(ids: list[str], per_group: int, seed: int, *scope: str) -> list[str]:
    """``per_group`` of ``ids`` (all if fewer), drawn without replacement, returned in id order."""
    ids = sorted(ids)
    if len(ids) <= per_group:
        return ids
    picks = rng_for(derive_seed(seed, "report", *scope)).choice(len(ids), size=per_group, replace=False)
    return [ids[k] for k in sorted(picks.tolist())]


def row_of_record(record: dict[str, Any]) -> dict[str, Any]:
    """A VIUBench record in the data-row shape :func:`videossr.report.preview.render_contact_sheet` draws."""
    extra = {
        "seed": "?",
        "video_id": record.get("video_id", record["id"]),
        "question": record.get("question", ""),
        **(record.get("extra_info") or {}),
    }
    return {
        "data_source": record.get("task") or record["subtype"].partition("/")[0],
        "extra_info": extra,
        "reward_model": {"ground_truth": record["ground_truth"]},
        "videos": record["videos"],
    }


def viubench_sheet(record: dict[str, Any]) -> str | None:
    """The contact sheet of a record as a data URI; None (logged) when it cannot be drawn at all.

    Missing frame files do not fail: the sheet shows a grey "missing" thumbnail in their place.
    """
    from videossr.report.preview import render_contact_sheet

    try:
        return jpeg_data_uri(render_contact_sheet(row_of_record(record)))
    except (KeyError, IndexError, TypeError, ValueError, cv2.error) as exc:
        logger.warning("no contact sheet for %s: %s", record.get("id"), exc)
        return None


@functools.lru_cache(maxsize=8)
def _video_lookup(video_dir: str):
    """One index of a video folder per report (walking a large folder once per item is slow)."""
    from videossr.eval import external

    return external.VideoLookup(video_dir)


def external_sheet(kind: str, record: dict[str, Any], video_dir: str | None) -> str | None:
    """A sheet of ``EXTERNAL_FRAMES`` frames decoded from the item's video (ground-truth span in red
    for grounding); None when the video folder or the video is not there."""
    from videossr.eval import external
    from videossr.eval.parsing import parse_time_span
    from videossr.report.preview import render_frame_strip

    if not video_dir or not Path(video_dir).is_dir():
        return None
    try:
        path = _video_lookup(str(video_dir)).find(str(record["video"]))
        video, duration_s = external.video_input(path, external.Protocol(max_frames=EXTERNAL_FRAMES))
    except (VideoError, ConfigError, OSError) as exc:
        logger.info("no frames for %s: %s", record.get("id"), exc)
        return None
    frames = [cv2.cvtColor(np.asarray(f), cv2.COLOR_RGB2BGR) for f in video.frames]
    times = [k / video.sample_fps for k in range(len(frames))]
    span = parse_time_span(str(record["ground_truth"])) if kind == "vtg" else None
    header = [f"video {record['video']}  |  {len(frames)} frames at {video.sample_fps:.2f} fps  |  {duration_s:.1f} s"]
    return jpeg_data_uri(render_frame_strip(frames, times, header, span))


# ----------------------------------------------------------------------------- sections


def _viubench_columns() -> list[tuple[str, str]]:
    """``(column, header)`` pairs: a subtype's column and header are its variant key."""
    from videossr.eval.viubench import subtypes, task_order

    columns = [(name, name) for name in subtypes()]
    columns += [(f"task:{t}", f"{t.capitalize()} avg") for t in task_order()]
    return columns + [("overall", "Overall")]


def _viubench_value(summary: dict[str, Any], column: str) -> float | None:
    if column == "overall":
        return summary.get("overall")
    if column.startswith("task:"):
        return summary.get("tasks", {}).get(column[5:])
    return summary.get("subtypes", {}).get(column)


def viubench_table(runs: list[Run]) -> str:
    """Table 1: published reference rows, then one row per run; cells carry bars and stable ids."""
    columns = _viubench_columns()
    from videossr.eval.viubench import subtypes

    titles = {name: s.title for name, s in subtypes().items()}  # the paper's names, on hover
    head = (
        "<tr><th>model</th>"
        + "".join(
            # The key over two lines (task/, variant) keeps nine key columns within a page's width.
            f'<th title="{esc(titles[column])}">{esc(label.partition("/")[0])}/<br>{esc(label.partition("/")[2])}</th>'
            if column in titles
            else f"<th>{esc(label)}</th>"
            for column, label in columns
        )
        + "<th>items</th></tr>"
    )
    rows = []
    for name, overall, values in PUBLISHED_ROWS:
        cells = []
        for column, _ in columns:
            value = overall if column == "overall" else values.get(column)
            cells.append(
                bar_cell(value, f"{value:.1f}", color=REFERENCE_COLOR)
                if value is not None
                else '<td class="num">&ndash;</td>'
            )
        rows.append(f'<tr class="ref"><td>{esc(name)} (paper)</td>{"".join(cells)}<td class="num">2700</td></tr>')
    for n, run in enumerate(runs):
        color = PALETTE[n % len(PALETTE)]
        cells = []
        for column, _ in columns:
            value = _viubench_value(run.summary, column)
            cell_id = anchor_id("viu", run.key, column.replace(":", "-"))
            cells.append(
                bar_cell(value, f"{value:.1f}", cell_id, color)
                if value is not None
                else f'<td class="num" id="{cell_id}">&ndash;</td>'
            )
        rows.append(
            f'<tr><td><a href="#run-{run.key}">{esc(run.label)}</a></td>{"".join(cells)}'
            f'<td class="num">{int(run.summary.get("num_items", 0))}</td></tr>'
        )
    bars = [(f"{name} (paper)", overall, REFERENCE_COLOR) for name, overall, _ in PUBLISHED_ROWS]
    bars += [
        (run.label, float(run.summary.get("overall", 0.0)), PALETTE[n % len(PALETTE)]) for n, run in enumerate(runs)
    ]
    bars.sort(key=lambda b: -b[1])
    task_plots = []
    for column, label in [c for c in columns if c[0].startswith("task:")]:
        task_bars = [
            (run.label, float(_viubench_value(run.summary, column) or 0.0), PALETTE[n % len(PALETTE)])
            for n, run in enumerate(runs)
        ]
        task_plots.append(
            f"<div class=plot><b>{esc(label)}</b><br>{svg_hbars(task_bars, max_value=100, width_px=420)}</div>"
        )
    return (
        '<h2 id="viubench">VIUBench (Table 1)</h2>'
        "<p class=note>Scores in percent, from each run's summary.json. Grounding = mean IoU; counting = per-shape "
        "exact match; jigsaw = exact order; Overall = mean of the 9 subtypes. Bars in each cell span 0-100.</p>"
        f'<table class="viubench-table">{head}{"".join(rows)}</table>'
        f"<p class=note>{esc(PUBLISHED_NOTE)}</p>"
        f"<div><div class=plot><b>Overall</b><br>{svg_hbars(bars, max_value=100)}</div>{''.join(task_plots)}</div>"
    )


def run_details(run: Run, in_gallery: set[str] = frozenset()) -> str:
    """Where a run came from and what was not understood: counts and a few raw examples.

    Examples in the gallery (``in_gallery`` ids) come first and link to their item; the others are
    named only (they were not sampled, so the page does not hold them).
    """
    s = run.summary
    counts = (
        f"{int(s.get('num_items', 0))} items: {int(s.get('num_unparsed', 0))} unparsed, "
        f"{int(s.get('num_errors', 0))} failed, {int(s.get('num_missing', 0))} missing"
    )
    bad = [(i, o) for i, o in run.outcomes.items() if o.status != "ok"]
    bad.sort(key=lambda pair: pair[0] not in in_gallery)  # stable: sampled ones first, each in file order
    examples = "".join(
        (
            f'<li><a class="anchor" href="#{anchor_id("item", run.bench_tag, i)}">{esc(i)}</a> '
            if i in in_gallery
            else f'<li><span class="anchor">{esc(i)}</span> <span class=note>(not in the sample)</span> '
        )
        + f'<span class="status-{o.status}">{o.status}</span>: '
        + f"<code>{esc((o.error or o.response or '(empty)')[:300])}</code></li>"
        for i, o in bad[:MAX_EXAMPLES]
    )
    more = f" (first {MAX_EXAMPLES} of {len(bad)})" if len(bad) > MAX_EXAMPLES else ""
    per = ""
    troubled = {k: v for k, v in (s.get("per_subtype_counts") or {}).items() if v.get("unparsed") or v.get("errors")}
    if troubled:
        per = "<br>per subtype: " + ", ".join(
            f"{esc(k)} {int(v.get('unparsed', 0))} unparsed / {int(v.get('errors', 0))} failed"
            for k, v in troubled.items()
        )
    return (
        f'<h3 id="run-{run.key}">{esc(run.label)} <span class=note>({esc(run.kind)})</span></h3>'
        f"<p class=note>folder {esc(run.folder)}<br>benchmark {esc(run.benchmark)}<br>"
        f"model {esc(s.get('model') or run.config.get('model') or '-')}, "
        f"backend {esc(s.get('backend') or run.config.get('backend') or '-')}"
        f'<br><span id="counts-{run.key}">{esc(counts)}</span>{per}</p>'
        + (f"<p>Not understood or failed{more}:</p><ul>{examples}</ul>" if bad else "<p>Every item was parsed.</p>")
    )


def _metric_keys(kind: str) -> list[str]:
    return ["accuracy"] if kind == "vqa" else ["miou", "recall@0.3", "recall@0.5", "recall@0.7"]


def external_section(runs: list[Run]) -> str:
    """Metrics of the runs of one external benchmark: overall, per category, IoU histogram (vtg)."""
    kind = runs[0].kind
    keys = _metric_keys(kind)
    names = {
        "accuracy": "accuracy",
        "miou": "mIoU",
        "recall@0.3": "R@0.3",
        "recall@0.5": "R@0.5",
        "recall@0.7": "R@0.7",
    }
    head = (
        "<tr><th>model</th>"
        + "".join(f"<th>{names[k]}</th>" for k in keys)
        + "<th>items</th><th>unparsed</th><th>failed</th></tr>"
    )
    rows = []
    for n, run in enumerate(runs):
        color = PALETTE[n % len(PALETTE)]
        s = run.summary
        cells = "".join(bar_cell(float(s[k]), f"{float(s[k]):.1f}", anchor_id("ext", run.key, k), color) for k in keys)
        rows.append(
            f'<tr><td><a href="#run-{run.key}">{esc(run.label)}</a></td>{cells}'
            f'<td class="num">{int(s["num_items"])}</td>'
            f'<td class="num">{int(s["num_unparsed"])}</td><td class="num">{int(s["num_errors"])}</td></tr>'
        )
    parts = [
        f'<h2 id="{anchor_id("bench", runs[0].benchmark.name)}">{esc(runs[0].benchmark.name)} ({kind})</h2>',
        "<p class=note>Percent; every item counts (unparsed and failed items score 0) unless the summary says "
        f"otherwise (denominator: {esc(runs[0].summary.get('denominator', 'all items'))}).</p>",
        f"<table>{head}{''.join(rows)}</table>",
    ]
    categories = sorted({c for run in runs for c in run.summary.get("categories", {})})
    if categories:
        main = keys[0]
        chead = (
            "<tr><th>category</th>"
            + "".join(f"<th>{esc(r.label)} {names[main]}</th>" for r in runs)
            + "<th>items</th></tr>"
        )
        crows = []
        for cat in categories:
            cells = []
            for n, run in enumerate(runs):
                block = run.summary.get("categories", {}).get(cat)
                cell_id = anchor_id("ext", run.key, "cat", cat, main)
                cells.append(
                    bar_cell(float(block[main]), f"{float(block[main]):.1f}", cell_id, PALETTE[n % len(PALETTE)])
                    if block
                    else f'<td id="{cell_id}">&ndash;</td>'
                )
            items = max(int(r.summary.get("categories", {}).get(cat, {}).get("num_items", 0)) for r in runs)
            crows.append(f"<tr><td>{esc(cat)}</td>{''.join(cells)}<td class=num>{items}</td></tr>")
        parts.append(f"<h3>Per category</h3><table>{chead}{''.join(crows)}</table>")
    if kind == "vtg":
        plots = []
        for run in runs:
            ious = [o.score for o in run.outcomes.values() if o.status == "ok"]
            counts, _ = np.histogram(ious, bins=10, range=(0.0, 1.0))
            not_scored = sum(o.status != "ok" for o in run.outcomes.values())
            labels = [f"{k / 10:.1f}" for k in range(10)] + ["none"]
            plots.append(
                svg_columns(
                    labels,
                    [int(c) for c in counts] + [not_scored],
                    title=f"IoU of {run.label} (bins of 0.1; none = unparsed/failed)",
                    width_px=420,
                )
            )
        parts.append("<div>" + "".join(plots) + "</div>")
    return "".join(parts)


def lmms_eval_section(runs: list[Run]) -> str:
    """One lmms-eval task of one or more runs: every metric as lmms-eval aggregated it."""
    task = runs[0].summary["task"]
    metrics = list(dict.fromkeys(m for run in runs for m in run.summary["metrics"]))
    head = "<tr><th>model</th>" + "".join(f"<th>{esc(m)}</th>" for m in metrics) + "<th>items</th></tr>"
    rows = []
    for run in runs:
        values = run.summary["metrics"]
        cells = "".join(
            f'<td class="num" id="{anchor_id("lmms", run.key, m)}">'
            + (f"{values[m]:.2f}" if m in values and not math.isnan(values[m]) else "&ndash;")
            + "</td>"
            for m in metrics
        )
        rows.append(
            f'<tr><td><a href="#run-{run.key}">{esc(run.label)}</a></td>{cells}'
            f'<td class="num">{int(run.summary["num_items"])}</td></tr>'
        )
    return (
        f'<h2 id="{anchor_id("bench", "lmms-eval", task)}">{esc(task)} (lmms-eval)</h2>'
        "<p class=note>The metrics exactly as lmms-eval aggregated them (its *_results.json, filter none), in the "
        "task's own units; items are its logged samples.</p>"
        f"<table>{head}{''.join(rows)}</table>"
    )


def gallery(runs: list[Run], per_group: int, seed: int) -> tuple[str, list[str]]:
    """The sampled items of one benchmark with every run's outcome; returns (html, ids shown)."""
    first = runs[0]
    bench = first.bench_tag
    if first.kind == "viubench":
        from videossr.eval.viubench import subtypes

        group_of = lambda r: r["subtype"]  # noqa: E731
        order = list(subtypes())
    else:
        group_of = lambda r: str(r.get("category") or "all")  # noqa: E731
        order = sorted({group_of(r) for r in first.records})
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in first.records:
        by_group[group_of(record)].append(record)
    video_dir = first.config.get("video_dir")
    blocks, shown = [], []
    for group in order:
        records = {r["id"]: r for r in by_group.get(group, [])}
        if not records:
            continue
        chosen = sample_ids(list(records), per_group, seed, str(first.benchmark), group)
        items = []
        for item_id in chosen:
            record = records[item_id]
            outcomes = [(run, run.outcomes[item_id]) for run in runs if item_id in run.outcomes]
            if first.kind == "viubench":
                sheet = viubench_sheet(record)
            elif first.kind == "lmms-eval":
                sheet = None  # lmms-eval's samples do not say where the videos are
            else:
                sheet = external_sheet(first.kind, record, video_dir)
            items.append(_item_html(bench, record, outcomes, sheet))
        shown.extend(chosen)
        blocks.append(
            f'<div class="group"><h3 id="{anchor_id("group", bench, group)}">{esc(group)} <span class=note>'
            f"({len(items)} of {len(records)} items)</span></h3>{''.join(items)}</div>"
        )
    head = (
        f'<h2 id="{anchor_id("gallery", bench)}">Items of {esc(first.benchmark)}</h2>'
        f"<p class=note>A seeded sample (seed {seed}): {per_group} items per "
        f"{'subtype' if first.kind == 'viubench' else 'category'} (all of a smaller one), the same items for every "
        "run. Contact sheets: frames in the order the model saw them, labelled with their time on the model's "
        "clock; red = the perturbed span (grounding truth), yellow = drawn shapes, one block per clip (jigsaw).</p>"
    )
    controls = filter_bar([(r.key, r.label) for r in runs], len(shown))
    return f'<section class="gallery" data-bench="{esc(bench)}">{head}{controls}{"".join(blocks)}</section>', shown


def _score_text(score: float) -> str:
    """A per-item score, or a dash where the run recorded none (lmms-eval tasks without a per-doc score)."""
    return "&ndash;" if math.isnan(score) else f"{score:.2f}"


def _item_html(bench: str, record: dict[str, Any], outcomes: list[tuple[Run, Outcome]], sheet: str | None) -> str:
    item_id = record["id"]
    ident = anchor_id("item", bench, item_id)
    wrong = any(o.score < 1.0 for _, o in outcomes)  # NaN (no per-item score) is never "wrong"
    unparsed = any(o.status != "ok" for _, o in outcomes)
    scores = "".join(f' data-s-{run.key}="{o.score:.4f}"' for run, o in outcomes)
    image = (
        f'<img loading="lazy" alt="contact sheet of {esc(item_id)}" src="{sheet}">'
        if sheet
        else '<div class="noimg">frames not available</div>'
    )
    rows = "".join(
        f"<tr><td>{esc(run.label)}</td><td><pre>{esc(o.response[:RESPONSE_CHARS]) or '<i>(empty)</i>'}</pre>"
        + (f'<pre class="status-error">{esc(o.error[:RESPONSE_CHARS])}</pre>' if o.error else "")
        + f'</td><td>{esc(o.answer) or "&ndash;"}</td><td class="num">{_score_text(o.score)}</td>'
        f'<td class="status-{o.status}">{o.status}</td></tr>'
        for run, o in outcomes
    )
    question = record.get("question") or record.get("prompt") or ""
    return (
        f'<div class="item" id="{ident}" data-wrong="{int(wrong)}" data-unparsed="{int(unparsed)}"{scores}>'
        f'<a class="anchor" href="#{ident}">#{esc(item_id)}</a> &nbsp; '
        f"ground truth: <b>{esc(record['ground_truth'])}</b>"
        f"{image}<div class=q>{esc(question)}</div>"
        f"<table><tr><th>model</th><th>response</th><th>answer</th><th>score</th><th>status</th></tr>{rows}</table></div>"
    )


# ----------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class ReportStats:
    num_runs: int
    num_items_shown: int
    size_bytes: int


def build_report(
    folders: list[str | Path],
    *,
    per_group: int = DEFAULT_PER_GROUP,
    seed: int = 0,
    benchmark: Path | None = None,
    title: str = "VideoSSR results",
) -> tuple[str, ReportStats]:
    """The HTML report of result folders (any mix of VIUBench and vqa/vtg runs) and its statistics.

    ``per_group`` >= 0 items per subtype/category go into the galleries; ``benchmark`` overrides
    the benchmark file every summary names (for moved files).

    Raises:
        ConfigError: no folders, or a folder that is not a scored result folder.
    """
    if not folders:
        raise ConfigError("pass at least one result folder")
    if per_group < 0:
        raise ConfigError(f"--per-group must be >= 0, got {per_group}")
    runs = [run for n, folder in enumerate(folders) for run in load_runs(folder, f"r{n}", benchmark)]
    label_runs(runs)
    groups: dict[tuple[str, Path], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.kind, run.benchmark)].append(run)
    for n, members in enumerate(groups.values()):
        for run in members:
            run.bench_tag = f"b{n}"
    body = [f"<h1>{esc(title)}</h1>"]
    viubench_runs = [r for r in runs if r.kind == "viubench"]
    if viubench_runs:
        body.append(viubench_table(viubench_runs))
    for (kind, _), members in groups.items():
        if kind == "lmms-eval":
            body.append(lmms_eval_section(members))
        elif kind != "viubench":
            body.append(external_section(members))
    galleries, sampled = [], {}
    for members in groups.values():
        html_text, ids = gallery(members, per_group, seed)
        galleries.append(html_text)
        sampled[members[0].bench_tag] = set(ids)
    shown = sum(len(ids) for ids in sampled.values())
    body.append("<h2>Runs</h2>" + "".join(run_details(r, sampled[r.bench_tag]) for r in runs))
    body.extend(galleries)
    # The note states the file's own size: measured without it, the note adds ~200 bytes.
    size = len(page(title, "".join(body)).encode("utf-8"))
    note = (
        f"This file: {size / 1e6:.2f} MB, {shown} gallery items of {len(runs)} runs, self-contained (no network). "
        f"Built by eval/report.py with --per-group {per_group} --seed {seed}."
    )
    document = page(title, "".join(body) + f'<p class="note" id="size-note">{esc(note)}</p>')
    logger.info("report: %d runs, %d items, %.2f MB", len(runs), shown, size / 1e6)
    return document, ReportStats(len(runs), shown, len(document.encode("utf-8")))
