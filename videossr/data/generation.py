"""Stage 2 of the pipeline: sampled frame folders -> pretext-task data files for verl.

One :class:`~videossr.tasks.registry.OutputSpec` describes one data file, named by its variant
key (``grounding/channelswap``, ``counting/easy``, ``jigsaw/6``, ...;
:func:`~videossr.tasks.registry.spec_of` makes one from a key). :func:`generate_files` makes the
samples of one or more specs over the videos of a frames folder, in parallel, through the specs'
registered tasks, and writes for each spec::

    OUT/<key>.parquet                  verl rows (schema: ``videossr.tasks.rows``), sorted by video_id
    OUT/<key>.jsonl                    the same rows as JSON Lines, for reading
    OUT/frames/<key>/<video_id>/<p>.jpg  the frames a sample changed (position p of what the model
                                       sees); unchanged frames are referenced in the frames folder
    OUT/manifest.json                  per file: config, counts, failed videos with reasons;
                                       updated last

A file whose manifest entry matches the settings and the video list is left as it is. The frames
folder is only read. A sample's randomness comes from
``derive_seed(seed, task, variant, video_id)``, so outputs are byte-identical for any worker count
and order, and one row can be regenerated alone (:func:`regenerate_sample`). Progress is
journalled per video; a re-run after a crash skips what the journal holds and produces the same
files.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from videossr.data.store import AppendLog, exclusive_writer
from videossr.errors import ConfigError, VideoError
from videossr.frames.folder import VideoFrames, load_index
from videossr.imaging import DEFAULT_JPEG_QUALITY, encode_jpeg
from videossr.io import atomic_open, read_json, remove_stale_temporaries, write_json_atomic, write_jsonl_atomic
from videossr.parallel import WorkerCrash, map_unordered
from videossr.provenance import package_versions, utc_now
from videossr.tasks.counting import DEFAULT_PLACEMENT, check_placement
from videossr.tasks.registry import OutputSpec, PretextTask, get_task
from videossr.tasks.rows import TRAIN_MAX_PIXELS, TRAIN_MIN_PIXELS, build_row, rows_to_table
from videossr.tasks.sample import Sample
from videossr.tasks.seeds import derive_seed, rng_for

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
JOURNAL_DIR = ".journal"
#: Bumped whenever the same inputs would give different bytes, so stale journals are not reused.
FORMAT_VERSION = 2  # 2: variant-key file names, extra_info.ground_truth / start_frame_pos, "failed"


__all__ = ["OutputSpec", "GenerationSettings", "generate_files", "make_sample", "build_sample_row", "regenerate_sample"]


@dataclass
class GenerationSettings:
    """Settings shared by every generator script (also recorded in the manifest)."""

    seed: int = 0
    split: str = "train"
    max_pixels: int = TRAIN_MAX_PIXELS
    min_pixels: int = TRAIN_MIN_PIXELS
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    counting_placement: str = DEFAULT_PLACEMENT  # counting's placement rule: "separate" or "released"

    def validate(self) -> None:
        if self.min_pixels < 1 or self.max_pixels < self.min_pixels:
            raise ConfigError(f"need 1 <= --min-pixels <= --max-pixels, got {self.min_pixels} and {self.max_pixels}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"--jpeg-quality must be in 1..100, got {self.jpeg_quality}")
        if not self.split:
            raise ConfigError("--split must not be empty")
        check_placement(self.counting_placement)

    def fingerprint(self, spec: OutputSpec, frames_dir: Path) -> dict[str, Any]:
        """What determines the bytes of a spec's outputs (a journal is reused only if it matches)."""
        fingerprint = {
            "format_version": FORMAT_VERSION,
            "task": spec.task,
            "variant": spec.variant,
            "frames_dir": str(frames_dir),
            "seed": self.seed,
            "split": self.split,
            "max_pixels": self.max_pixels,
            "min_pixels": self.min_pixels,
            "jpeg_quality": self.jpeg_quality,
        }
        # Settings only some tasks' bytes depend on (counting's placement): other files stay up to date.
        fingerprint.update(get_task(spec.task).fingerprint(self))
        return fingerprint


@dataclass
class FileSummary:
    """What :func:`generate_files` made for one spec."""

    key: str  # the variant key
    path: Path
    num_rows: int = 0
    generated: int = 0
    resumed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # videos that cannot carry a sample, with reasons
    wall_s: float = 0.0
    up_to_date: bool = False

    def one_line(self) -> str:
        if self.up_to_date:
            return f"{self.key}: up to date, {self.num_rows} samples, {len(self.failed)} videos failed -> {self.path}"
        return (
            f"{self.key}: {self.num_rows} samples ({self.generated} new, {self.resumed} resumed), "
            f"{len(self.failed)} videos failed -> {self.path}"
        )


# ----------------------------------------------------------------------------- one sample


@dataclass(frozen=True)
class _Job:
    task: PretextTask  # the object, not its name: a spawned worker unpickles (imports) the task's module
    spec: OutputSpec
    frames_dir: Path
    output_dir: Path
    record: dict[str, Any]
    partner_record: dict[str, Any] | None
    settings: GenerationSettings


def sample_seed(settings: GenerationSettings, spec: OutputSpec, video_id: str) -> int:
    """The seed of one sample: a stable hash of (run seed, task, variant, video id)."""
    return derive_seed(settings.seed, spec.task, spec.variant, video_id)


def partner_for(seed: int, video_id: str, all_video_ids: Sequence[str]) -> str | None:
    """The video Swap takes frames from: a seeded choice among the other videos, order-free."""
    candidates = sorted(set(all_video_ids) - {video_id})
    if not candidates:
        return None
    return candidates[derive_seed(seed, "swap-partner") % len(candidates)]


def make_sample(
    spec: OutputSpec, video: VideoFrames, seed: int, partner: VideoFrames | None = None, **options: Any
) -> Sample:
    """The sample of ``spec`` for ``video`` from its seed, made by the spec's task.

    ``options`` are the task's sample options (:meth:`~videossr.tasks.registry.PretextTask.sample_options`,
    e.g. counting's ``placement``); a task's defaults apply to those left out.
    """
    return get_task(spec.task).make_sample(video, spec.variant, rng_for(seed), partner=partner, **options)


def materialise(sample: Sample, sample_dir: Path, jpeg_quality: int = DEFAULT_JPEG_QUALITY) -> list[list[str]]:
    """Write the sample's new frames as JPEG into ``sample_dir``; return every frame's path.

    A new frame is ``<position>.jpg`` (``<video>_<position>.jpg`` when the prompt has several
    videos); reused frames keep their own paths.
    """
    paths: list[list[str]] = []
    for video_pos, frames in enumerate(sample.videos):
        video_paths = []
        for position, frame in enumerate(frames):
            if isinstance(frame, Path):
                video_paths.append(str(frame))
                continue
            name = f"{position}.jpg" if len(sample.videos) == 1 else f"{video_pos}_{position}.jpg"
            sample_dir.mkdir(parents=True, exist_ok=True)
            (sample_dir / name).write_bytes(encode_jpeg(frame, jpeg_quality))
            video_paths.append(str(sample_dir / name))
        paths.append(video_paths)
    return paths


def build_sample_row(
    task: PretextTask,
    spec: OutputSpec,
    frames_dir: Path,
    record: dict[str, Any],
    partner_record: dict[str, Any] | None,
    seed: int,
    sample_dir: Path,
    settings: GenerationSettings,
) -> dict[str, Any]:
    """The verl row of one video's sample, its new frames written into ``sample_dir``.

    What generation and the online dataset both do per item. Raises :class:`VideoError` when the
    video cannot carry the sample.
    """
    video = VideoFrames(frames_dir, record)
    video.check_complete()
    partner = VideoFrames(frames_dir, partner_record) if partner_record else None
    sample = task.make_sample(video, spec.variant, rng_for(seed), partner=partner, **task.sample_options(settings))
    paths = materialise(sample, sample_dir, settings.jpeg_quality)
    return build_row(
        sample,
        paths,
        seed=seed,
        split=settings.split,
        frames_dir=frames_dir,
        max_pixels=settings.max_pixels,
        min_pixels=settings.min_pixels,
    )


def _run_job(job: _Job) -> dict[str, Any]:
    """Worker entry: one video of one spec -> a journal entry (row, or skip reason)."""
    video_id = job.record["video_id"]
    seed = sample_seed(job.settings, job.spec, video_id)
    sample_dir = job.output_dir / "frames" / job.spec.key / video_id
    try:
        row = build_sample_row(
            job.task, job.spec, job.frames_dir, job.record, job.partner_record, seed, sample_dir, job.settings
        )
        return {"video_id": video_id, "row": row}
    except VideoError as exc:
        return {"video_id": video_id, "failure": exc.reason}


# ----------------------------------------------------------------------------- journal


class _Journal:
    """The finished videos of one spec, on an :class:`~videossr.data.store.AppendLog` headed by the
    settings fingerprint (a log written with other settings is started afresh)."""

    def __init__(self, path: Path, fingerprint: dict[str, Any]):
        self._log = AppendLog(path, header=fingerprint)
        self.entries: dict[str, dict[str, Any]] = {}
        for entry in self._log.entries:
            if entry.get("retry_on_resume"):
                # A worker crash is environmental, not a property of the video: make it again.
                self.entries.pop(entry["video_id"], None)
            else:
                self.entries[entry["video_id"]] = entry

    def add(self, entry: dict[str, Any]) -> None:
        self._log.append(entry)
        self.entries[entry["video_id"]] = entry

    def close(self) -> None:
        self._log.close()


# ----------------------------------------------------------------------------- driver


def select_records(records: list[dict[str, Any]], start: int = 0, end: int | None = None, limit: int | None = None):
    """Records ``start:end`` (of the sorted index), then the first ``limit`` of them."""
    chosen = records[start:end]
    return chosen[:limit] if limit is not None else chosen


def generate_files(
    frames_dir: str | Path,
    output_dir: str | Path,
    assignments: Sequence[tuple[OutputSpec, Sequence[str]]],
    settings: GenerationSettings,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    config_for_manifest: dict[str, Any] | None = None,
    progress: Callable[[Iterator[Any], int], Iterator[Any]] | None = None,
) -> list[FileSummary]:
    """Generate each spec over its video ids; see the module docstring for the outputs.

    Args:
        frames_dir: a folder made by ``sample_frames.py`` (read only).
        output_dir: where data files go; must not be inside ``frames_dir``.
        assignments: ``(spec, video_ids)`` pairs; ids must be in the frames index.
        settings: seed, split and pixel budgets.
        workers: worker processes.
        ray_address: run the samples as Ray tasks on this cluster ("auto": this machine's) instead.
        config_for_manifest: the script's resolved config, recorded in the manifest.
        progress: optional wrapper of the stream of finished jobs (a progress bar).
    """
    settings.validate()
    started = time.perf_counter()
    frames_dir = Path(frames_dir).expanduser().resolve()
    output_dir = Path(output_dir).expanduser().resolve()
    if output_dir == frames_dir or frames_dir in output_dir.parents:
        raise ConfigError(f"--output-dir {output_dir} is inside the frames folder {frames_dir}; pass another folder")
    records = {r["video_id"]: r for r in load_index(frames_dir)}
    all_ids = sorted(records)
    output_dir.mkdir(parents=True, exist_ok=True)

    keys = [spec.key for spec, _ in assignments]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"two outputs share a file name: {keys}")
    with contextlib.ExitStack() as locks:
        # One writer per output file: a second run making the same file is refused at once;
        # runs making other files of this folder go on side by side.
        for key in sorted(keys):
            locks.enter_context(exclusive_writer(output_dir / JOURNAL_DIR, key))
        # Temporaries a killed run left for these outputs (their locks are held now).
        remove_stale_temporaries(output_dir, [f"{key}.{ext}" for key in keys for ext in ("parquet", "jsonl")])
        return _generate_locked(
            frames_dir,
            output_dir,
            assignments,
            settings,
            records,
            all_ids,
            started,
            workers=workers,
            ray_address=ray_address,
            config_for_manifest=config_for_manifest,
            progress=progress,
        )


def _generate_locked(
    frames_dir: Path,
    output_dir: Path,
    assignments: Sequence[tuple[OutputSpec, Sequence[str]]],
    settings: GenerationSettings,
    records: dict[str, dict[str, Any]],
    all_ids: list[str],
    started: float,
    *,
    workers: int,
    ray_address: str | None,
    config_for_manifest: dict[str, Any] | None,
    progress: Callable[[Iterator[Any], int], Iterator[Any]] | None,
) -> list[FileSummary]:
    """:func:`generate_files` once the write locks of its outputs are held."""
    manifest_path = output_dir / MANIFEST_NAME
    done_before = read_json(manifest_path).get("files", {}) if manifest_path.exists() else {}
    journals: dict[str, _Journal] = {}
    jobs: list[_Job] = []
    up_to_date: dict[str, FileSummary] = {}
    for spec, video_ids in assignments:
        unknown = [v for v in video_ids if v not in records]
        if unknown:
            raise ConfigError(f"video ids not in {frames_dir}/index.jsonl: {unknown[:3]}")
        previous = done_before.get(spec.key, {})
        if (
            previous.get("settings") == settings.fingerprint(spec, frames_dir)
            and previous.get("videos_sha256") == _ids_digest(video_ids)
            and spec.data_file(output_dir).is_file()
        ):
            up_to_date[spec.key] = FileSummary(
                key=spec.key,
                path=spec.data_file(output_dir),
                num_rows=previous["num_rows"],
                resumed=previous["num_rows"] + len(previous["failed"]),
                failed=previous["failed"],
                up_to_date=True,
            )
            continue
        journal = _Journal(spec.data_file(output_dir / JOURNAL_DIR, ".jsonl"), settings.fingerprint(spec, frames_dir))
        journals[spec.key] = journal
        task = get_task(spec.task)
        for video_id in sorted(video_ids):
            if video_id in journal.entries:
                continue
            partner = None
            if task.needs_partner(spec.variant):
                partner_id = partner_for(sample_seed(settings, spec, video_id), video_id, all_ids)
                partner = records[partner_id] if partner_id else None
            jobs.append(_Job(task, spec, frames_dir, output_dir, records[video_id], partner, settings))
    resumed = {key: len(j.entries) for key, j in journals.items()}

    results = _run_jobs(jobs, workers, ray_address)
    if progress is not None:
        results = progress(results, len(jobs))
    try:
        for key, entry in results:
            journals[key].add(entry)
    finally:
        for journal in journals.values():
            journal.close()

    summaries = []
    for spec, video_ids in assignments:
        if spec.key in up_to_date:
            summaries.append(up_to_date[spec.key])
            continue
        entries = [journals[spec.key].entries[v] for v in sorted(video_ids)]
        summary = _write_outputs(spec, entries, output_dir)
        summary.resumed = resumed[spec.key]
        summary.generated = len(entries) - summary.resumed
        summary.wall_s = time.perf_counter() - started
        summaries.append(summary)
    made = [k for k, summary in enumerate(summaries) if not summary.up_to_date]
    if made:
        made_summaries = [summaries[k] for k in made]
        made_assignments = [assignments[k] for k in made]
        _update_manifest(output_dir, made_summaries, made_assignments, settings, frames_dir, config_for_manifest)
    for spec, _ in assignments:
        spec.data_file(output_dir / JOURNAL_DIR, ".jsonl").unlink(missing_ok=True)
    return summaries


def _run_jobs(jobs: list[_Job], workers: int, ray_address: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    in_flight = 0 if ray_address else min(workers, max(1, len(jobs)))
    for job, result in map_unordered(_run_job, jobs, in_flight, ray_address=ray_address):
        if isinstance(result, WorkerCrash):
            # Environmental, not a property of the video: a resumed run tries it again.
            result = {
                "video_id": job.record["video_id"],
                "failure": f"worker crashed: {result.message}",
                "retry_on_resume": True,
            }
        yield job.spec.key, result


def write_data_file(output_dir: Path, key: str, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` to ``<key>.parquet`` (the row schema) and ``<key>.jsonl``, atomically.

    ``key`` is a variant key (``grounding/channelswap``): its task names a subfolder, made if needed.
    """
    parquet_path = output_dir / f"{key}.parquet"
    parquet_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(parquet_path, "wb") as handle:
        pq.write_table(rows_to_table(rows), handle, compression="zstd")
    write_jsonl_atomic(output_dir / f"{key}.jsonl", rows)
    return parquet_path


def _write_outputs(spec: OutputSpec, entries: list[dict[str, Any]], output_dir: Path) -> FileSummary:
    rows = [e["row"] for e in entries if "row" in e]
    for index, row in enumerate(rows):
        row["extra_info"]["index"] = index
    parquet_path = write_data_file(output_dir, spec.key, rows)
    failed = [{"video_id": e["video_id"], "reason": e["failure"]} for e in entries if "failure" in e]
    return FileSummary(key=spec.key, path=parquet_path, num_rows=len(rows), failed=failed)


def _ids_digest(video_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(video_ids)).encode("utf-8")).hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if needed) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _update_manifest(
    output_dir: Path,
    summaries: list[FileSummary],
    assignments: Sequence[tuple[OutputSpec, Sequence[str]]],
    settings: GenerationSettings,
    frames_dir: Path,
    config: dict[str, Any] | None,
) -> None:
    manifest_path = output_dir / MANIFEST_NAME
    with _locked(output_dir / JOURNAL_DIR / "manifest.lock"):
        manifest = read_json(manifest_path) if manifest_path.exists() else {"files": {}}
        for summary, (spec, video_ids) in zip(summaries, assignments):
            manifest["files"][summary.key] = {
                "task": spec.task,
                "variant": spec.variant,
                "parquet": f"{summary.key}.parquet",
                "jsonl": f"{summary.key}.jsonl",
                "num_rows": summary.num_rows,
                "num_videos": len(video_ids),
                # Of this run: samples made now and samples taken from the journal of a killed run.
                "generated": summary.generated,
                "resumed": summary.resumed,
                "videos_sha256": _ids_digest(video_ids),
                "failed": summary.failed,
                "settings": settings.fingerprint(spec, frames_dir),
                "config": config or {},
                "finished_at": utc_now(),
                "wall_s": round(summary.wall_s, 3),
            }
        manifest["versions"] = package_versions()
        write_json_atomic(manifest_path, manifest)


# ----------------------------------------------------------------------------- checking


@functools.lru_cache(maxsize=8)
def _records_by_id(frames_dir: str, index_mtime_ns: int) -> dict[str, dict[str, Any]]:
    """A frames folder's index by video id, read once per folder and index version."""
    return {r["video_id"]: r for r in load_index(frames_dir)}


def regenerate_sample(row: dict[str, Any], spec: OutputSpec | None = None) -> Sample:
    """Rebuild the sample of a row from its frames folder and seed (nothing is written).

    The row's task rebuilds it with the options its params record (counting: the placement rule;
    rows written before it was recorded used the released rule).

    Raises :class:`VideoError` if the frames folder no longer holds the video.
    """
    extra = row["extra_info"]
    frames_dir = Path(extra["frames_dir"])
    index = frames_dir / "index.jsonl"
    records = _records_by_id(str(frames_dir), index.stat().st_mtime_ns if index.exists() else 0)
    missing = [
        v
        for v in (extra["video_id"], json.loads(extra["params"] or "{}").get("partner_video_id"))
        if v and v not in records
    ]
    if missing:
        raise VideoError(f"{frames_dir} no longer holds video {missing[0]!r}")
    task = get_task(extra["task"] if spec is None else spec.task)
    if spec is None:
        spec = task.spec(task.variant_of_row(extra))
    video = VideoFrames(frames_dir, records[extra["video_id"]])
    partner = None
    params = json.loads(extra["params"] or "{}")
    if "partner_video_id" in params:
        partner = VideoFrames(frames_dir, records[params["partner_video_id"]])
    return make_sample(spec, video, int(extra["seed"]), partner, **task.row_sample_options(params))


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a parquet data file as dicts (``ValueError`` names a file that is not one)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data file not found: {path}")
    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise ConfigError(f"{path} is not a readable parquet file ({exc})") from exc
