"""VIUBench: the paper's 2,700-question benchmark of the three pretext tasks, built and scored.

Nine subtypes (300 questions each in the paper): Object Counting easy/hard; Anomaly Grounding with
ChannelSwap, Rotate180, ZoomOut, Mirror, Shuffle; Temporal Jigsaw with 6 (easy) and 8 (hard)
clips. Frames are shown at up to 512x512 pixels. Each video is used by one question only. The
subtypes are the registered tasks' ``benchmark_subtypes`` (:func:`subtypes`), so a registered
task with subtypes of its own joins the benchmark.

Scoring follows VIUBench, not the training rewards (each task's ``benchmark_score``): grounding =
mean IoU; counting = per-shape exact match averaged over the three shapes; jigsaw = 1 only for the
identical order. Answers are parsed by the same parsers as the rewards (the format each prompt asks
for). The report is the paper's Table 1 row: 9 subtype scores, 3 task averages and Overall = mean
of the 9, in percent.

The benchmark file (``viubench.json``) is a JSON list of records::

    {"id": "counting/easy/<video_id>", "task": "counting", "subtype": "counting/easy",
     "video_id": ..., "system": "Based on this video, ...", "prompt": "<video>\\nCount ...",
     "question": "Count ...", "ground_truth": "2,6,5",
     "videos": [{"video": [frame paths], "sample_fps": 6.25, "max_pixels": 262144, "min_pixels": 16384}],
     "hints": {...}, "extra_info": {...}}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videossr.data.generation import GenerationSettings, generate_files, read_rows
from videossr.data.store import exclusive_writer
from videossr.errors import ConfigError
from videossr.eval.backends.base import Request, video_input_of
from videossr.eval.metrics import ItemScore, mean_percent
from videossr.frames.folder import load_index
from videossr.io import read_json, remove_stale_temporaries, write_json_atomic
from videossr.provenance import package_versions, utc_now
from videossr.tasks.counting import DEFAULT_PLACEMENT
from videossr.tasks.prompts import SYSTEM_PROMPT
from videossr.tasks.registry import OutputSpec, PretextTask, all_tasks
from videossr.tasks.rows import TRAIN_MIN_PIXELS
from videossr.tasks.seeds import derive_seed, rng_for

VIUBENCH_MAX_PIXELS = 512 * 512
DEFAULT_PER_SUBTYPE = 300
BENCHMARK_NAME = "viubench.json"
PARTS_DIR = "parts"
MAX_NEW_TOKENS = 64
#: Subtype names of benchmark files built before subtypes were named by their variant keys.
LEGACY_SUBTYPES = {
    "counting_easy": "counting/easy",
    "counting_hard": "counting/hard",
    **{
        f"grounding_{name}": f"grounding/{name}"
        for name in ("channelswap", "rotate180", "zoomout", "mirror", "shuffle")
    },
    "jigsaw_easy": "jigsaw/6",
    "jigsaw_hard": "jigsaw/8",
}


@dataclass(frozen=True)
class Subtype:
    name: str  # the variant key (``grounding/channelswap``): record ids, summary keys, report columns
    spec: OutputSpec  # the variant; its data file is the part file of the build
    title: str  # the paper's name of the subtype (``Grounding ChannelSwap``)
    task: PretextTask


_subtypes_cache: dict[tuple, dict[str, Subtype]] = {}


def subtypes() -> dict[str, Subtype]:
    """Every registered task's VIUBench subtypes by name, in registry order (the paper's Table 1 order).

    Built once per registry state (scoring asks once per record); a task registered later is seen.
    """
    tasks = all_tasks()
    key = tuple((name, id(task)) for name, task in tasks.items())
    if key not in _subtypes_cache:
        _subtypes_cache.clear()
        _subtypes_cache[key] = _build_subtypes(tasks.values())
    return dict(_subtypes_cache[key])


def _build_subtypes(tasks) -> dict[str, Subtype]:
    found: dict[str, Subtype] = {}
    for task in tasks:
        for subtype in task.benchmark_subtypes:
            spec = task.spec(subtype.variant)
            if spec.key in found:
                raise ValueError(f"VIUBench subtype {spec.key!r} is declared twice")
            found[spec.key] = Subtype(spec.key, spec, subtype.title, task)
    return found


def task_order() -> tuple[str, ...]:
    """The tasks with VIUBench subtypes, in registry order: the task averages of the report."""
    return tuple(dict.fromkeys(s.spec.task for s in subtypes().values()))


# ----------------------------------------------------------------------------- building


def assign_benchmark_videos(
    video_ids: Sequence[str], per_subtype: int, seed: int, reuse_videos: bool = False
) -> dict[str, list[str]]:
    """Video ids per subtype: a seeded shuffle dealt out so that each video serves once.

    Raises:
        ConfigError: too few videos for ``9 x per_subtype`` (without ``reuse_videos``).
    """
    if per_subtype < 1:
        raise ConfigError(f"--per-subtype must be >= 1, got {per_subtype}")
    ids = sorted(set(video_ids))
    shuffled = [ids[k] for k in rng_for(derive_seed(seed, "viubench")).permutation(len(ids))]
    names = list(subtypes())
    if reuse_videos:
        return {name: sorted(shuffled[:per_subtype]) for name in names}
    needed = per_subtype * len(names)
    if len(shuffled) < needed:
        raise ConfigError(
            f"VIUBench with {per_subtype} questions per subtype needs {needed} videos, the frames folder "
            f"has {len(shuffled)}: pass --per-subtype {max(1, len(shuffled) // len(names))}, or "
            "--reuse-videos (tiny corpora only)"
        )
    return {name: sorted(shuffled[k * per_subtype : (k + 1) * per_subtype]) for k, name in enumerate(names)}


def record_of(subtype: Subtype, row: dict[str, Any]) -> dict[str, Any]:
    """The benchmark record of a generated row."""
    extra = row["extra_info"]
    return {
        "id": f"{subtype.name}/{extra['video_id']}",
        "task": subtype.spec.task,
        "subtype": subtype.name,
        "video_id": extra["video_id"],
        "system": row["prompt"][0]["content"],
        "prompt": row["prompt"][1]["content"],
        "question": extra["question"],
        "ground_truth": row["reward_model"]["ground_truth"],
        "videos": row["videos"],
        "hints": subtype.task.benchmark_hints(subtype.spec.variant, row),
        "extra_info": {k: v for k, v in extra.items() if v is not None and k not in ("index", "split")},
    }


def build_viubench(
    frames_dir: str | Path,
    output_dir: str | Path,
    *,
    per_subtype: int = DEFAULT_PER_SUBTYPE,
    seed: int = 0,
    reuse_videos: bool = False,
    workers: int = 1,
    ray_address: str | None = None,
    progress=None,
    counting_placement: str = DEFAULT_PLACEMENT,
) -> Path:
    """Build every subtype (the paper's 9) from a frames folder into ``OUT/viubench.json``; returns its path.

    ``counting_placement``: ``separate`` (no two shapes overlap, so every counting answer is what
    the pixels show) or ``released`` (the released placement rule, overlaps included).
    """
    output_dir = Path(output_dir).expanduser().resolve()
    with exclusive_writer(output_dir, "viubench"):  # one build per folder: a second is refused at once
        return _build_viubench_locked(
            frames_dir, output_dir, per_subtype, seed, reuse_videos, workers, ray_address, progress, counting_placement
        )


def _build_viubench_locked(
    frames_dir,
    output_dir: Path,
    per_subtype: int,
    seed: int,
    reuse_videos: bool,
    workers: int,
    ray_address: str | None,
    progress,
    counting_placement: str,
) -> Path:
    """:func:`build_viubench` once the folder's lock is held."""
    remove_stale_temporaries(output_dir, [BENCHMARK_NAME, "manifest.json"])  # left by a killed build
    ids = [r["video_id"] for r in load_index(frames_dir)]
    assignment = assign_benchmark_videos(ids, per_subtype, seed, reuse_videos)
    by_name = subtypes()
    settings = GenerationSettings(
        seed=seed,
        split="test",
        max_pixels=VIUBENCH_MAX_PIXELS,
        min_pixels=TRAIN_MIN_PIXELS,
        counting_placement=counting_placement,
    )
    summaries = generate_files(
        frames_dir,
        output_dir / PARTS_DIR,
        [(by_name[name].spec, video_ids) for name, video_ids in assignment.items()],
        settings,
        workers=workers,
        ray_address=ray_address,
        progress=progress,
    )
    records = []
    failed = {}
    for summary in summaries:
        subtype = by_name[summary.key]
        records.extend(record_of(subtype, row) for row in read_rows(summary.path))
        failed[summary.key] = summary.failed
    if not records:
        raise ConfigError(f"no VIUBench question could be made from {frames_dir}")
    path = output_dir / BENCHMARK_NAME
    write_json_atomic(path, records)
    write_json_atomic(
        output_dir / "manifest.json",
        {
            "benchmark": BENCHMARK_NAME,
            "frames_dir": str(Path(frames_dir).resolve()),
            "seed": seed,
            "per_subtype": per_subtype,
            "reuse_videos": reuse_videos,
            "counting_placement": counting_placement,
            "questions": {name: sum(r["subtype"] == name for r in records) for name in by_name},
            "failed": failed,
            "finished_at": utc_now(),
            "versions": package_versions(),
        },
    )
    return path


# ----------------------------------------------------------------------------- loading, requests


def load_benchmark(path: str | Path) -> list[dict[str, Any]]:
    """Records of a VIUBench file; clear errors for a missing, empty or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"benchmark file not found: {path} (build it with: python eval/viubench.py build ...)")
    try:
        records = read_json(path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if not isinstance(records, list) or not records:
        raise ConfigError(f"{path} holds no benchmark records")
    known = subtypes()
    for record in records:
        if isinstance(record, dict) and "answer" in record and "ground_truth" not in record:
            record["ground_truth"] = record.pop("answer")  # files built before the vocabulary change
            record["subtype"] = LEGACY_SUBTYPES.get(record.get("subtype"), record.get("subtype"))
        if not isinstance(record, dict):
            raise ConfigError(f"{path}: a record is not a JSON object: {str(record)[:80]}")
        missing = {"id", "subtype", "prompt", "ground_truth", "videos"} - set(record)
        if missing:
            raise ConfigError(f"{path}: record {record.get('id', '?')} lacks {sorted(missing)}")
        if record["subtype"] not in known:
            raise ConfigError(f"{path}: unknown subtype {record['subtype']!r}; known: {', '.join(known)}")
    return records


def request_of(record: dict[str, Any], max_new_tokens: int = MAX_NEW_TOKENS) -> Request:
    """The model request of a record: the training prompt and frames, at VIUBench's budget."""
    videos = tuple(video_input_of(v) for v in record["videos"])
    return Request(
        id=record["id"],
        user_text=record["prompt"],
        videos=videos,
        system=record.get("system") or SYSTEM_PROMPT,
        max_new_tokens=max_new_tokens,
        hints=dict(record.get("hints") or {}),
    )


# ----------------------------------------------------------------------------- scoring


def score_response(record: dict[str, Any], response: str) -> tuple[float, bool]:
    """``(score in [0, 1], parsed)`` of one response under VIUBench's rule for its task."""
    score, answer = read_response(record, response)
    return score, answer is not None


def read_response(record: dict[str, Any], response: str) -> tuple[float, str | None]:
    """``(score in [0, 1], the answer read from the response or None if unparsed)`` of one response."""
    return subtypes()[record["subtype"]].task.benchmark_score(response, record["ground_truth"])


def score_benchmark(records: list[dict[str, Any]], responses: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The Table 1 row (percent) plus counts: every record counts, unanswered ones as 0."""
    items: list[ItemScore] = []
    for record in records:
        entry = responses.get(record["id"])
        if entry is None:
            items.append(ItemScore(record["id"], 0.0, "missing", record["subtype"]))
        elif entry.get("error"):
            items.append(ItemScore(record["id"], 0.0, "error", record["subtype"]))
        else:
            score, parsed = score_response(record, str(entry.get("response", "")))
            items.append(ItemScore(record["id"], score, "ok" if parsed else "unparsed", record["subtype"]))
    known = subtypes()
    scores = {
        name: mean_percent(i.score for i in items if i.category == name)
        for name in known
        if any(i.category == name for i in items)
    }
    tasks = {
        task: mean_percent(v / 100 for k, v in scores.items() if known[k].spec.task == task)
        for task in task_order()
        if any(known[k].spec.task == task for k in scores)
    }
    return {
        "subtypes": scores,
        "tasks": tasks,
        "overall": mean_percent(v / 100 for v in scores.values()),
        "num_items": len(items),
        "num_unparsed": sum(i.status == "unparsed" for i in items),
        "num_errors": sum(i.status == "error" for i in items),
        "num_missing": sum(i.status == "missing" for i in items),
        "per_subtype_counts": {
            name: {
                "items": sum(i.category == name for i in items),
                "unparsed": sum(i.category == name and i.status == "unparsed" for i in items),
                "errors": sum(i.category == name and i.status == "error" for i in items),
            }
            for name in scores
        },
    }


def format_table(summary: dict[str, Any], label: str = "") -> str:
    """The report as the paper's Table 1 row (percent, one decimal).

    The columns are the subtypes' variant keys, written over two header lines (task, variant)::

                             counting        grounding ...
                                 easy    hard  channelswap ...
        my-model                 41.0    22.3         61.2 ...
    """
    known = subtypes()
    names = [n for n in known if n in summary["subtypes"]]
    widths = [max(8, len(known[n].spec.key.partition("/")[2]) + 2) for n in names]
    tasks_line, variants_line = f"{'':<22}", f"{'':<22}"
    previous_task = None
    for name, width in zip(names, widths):
        task, _, variant = name.partition("/")
        tasks_line += f"{task if task != previous_task else '':>{width}}"
        variants_line += f"{variant:>{width}}"
        previous_task = task
    header = f"{tasks_line.rstrip()}\n{variants_line}{'Overall':>9}"
    row = f"{label[:22]:<22}" + "".join(f"{summary['subtypes'][n]:>{w}.1f}" for n, w in zip(names, widths))
    row += f"{summary['overall']:>9.1f}"
    tasks = "  ".join(f"{task} {value:.1f}" for task, value in summary["tasks"].items())
    counts = (
        f"{summary['num_items']} items, {summary['num_unparsed']} unparsed, "
        f"{summary['num_errors']} errors, {summary['num_missing']} missing"
    )
    return "\n".join([header, row, f"task averages: {tasks}", counts])


def write_summary(path: str | Path, summary: dict[str, Any], **details: Any) -> None:
    write_json_atomic(path, {**summary, **details, "finished_at": utc_now(), "versions": package_versions()})
