"""Stage 1 of the pipeline: reduce source videos to folders of sampled JPEG frames.

Output layout (``OUT`` = the output folder; nothing is ever written next to the input videos)::

    OUT/<video_id>/0.jpg … <N-1>.jpg   the sampled frames, upright, within the pixel budget
    OUT/.journal/sampling.jsonl        while a run is unfinished: the record of every video whose
                                        frames are all written (the resumable-output store,
                                        :class:`~videossr.data.store.AppendLog`, headed by the settings)
    OUT/settings.json                  the settings the frames were made with (checked on re-runs)
    OUT/index.jsonl                    one record per sampled video, sorted by video_id
    OUT/failures.jsonl                 one line per video that could not be sampled, with a reason
    OUT/manifest.json                  config, counts, timing and versions; written last, so its
                                        presence means the run completed

A video is done when the journal or ``index.jsonl`` holds its record. A re-run (after a kill, or
with more videos) skips done videos, redoes half-written ones and retries failed ones; the frames,
``index.jsonl`` and ``failures.jsonl`` are identical for any worker count and order. The journal
is removed once ``index.jsonl`` and the manifest are written.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videossr.cli import config_to_dict
from videossr.data.store import AppendLog, exclusive_writer
from videossr.errors import ConfigError, VideoError
from videossr.frames.folder import INDEX_NAME, frame_path, load_index
from videossr.frames.plan import DEFAULT_NUM_FRAMES, plan_central_sampling, sample_fps_of
from videossr.imaging import DEFAULT_JPEG_QUALITY, encode_jpeg
from videossr.io import read_json, remove_stale_temporaries, write_json_atomic, write_jsonl_atomic
from videossr.parallel import RayOptions, WorkerCrash, available_cpus, map_unordered
from videossr.provenance import package_versions, utc_now
from videossr.video.discovery import VideoSource, find_videos, read_video_list

logger = logging.getLogger(__name__)

#: 512 x 512: the largest budget any consumer of the frames uses (VIUBench and evaluation; the
#: training loader asks for 256 x 256). Storing more costs JPEG time and disk for pixels that
#: every consumer throws away; storing less would make VIUBench frames blurrier than the paper's.
DEFAULT_MAX_PIXELS = 512 * 512

FAILURES_NAME = "failures.jsonl"
JOURNAL_PATH = Path(".journal") / "sampling.jsonl"  # under the output folder
MANIFEST_NAME = "manifest.json"
SETTINGS_NAME = "settings.json"

#: Bumped when the bytes written for the same settings change, so old folders are not mixed in.
FORMAT_VERSION = 1


@dataclass(kw_only=True)
class FrameSamplingConfig(RayOptions):
    """Settings of ``pretext_tasks/sample_frames.py`` (its flags are these fields)."""

    output_dir: Path  # folder to write frames and index into (created)
    video_dir: list[Path] = field(default_factory=list)  # folders searched recursively for videos
    video_list: Path | None = None  # text file, one video path per line (optionally PATH<TAB>VIDEO_ID)
    num_frames: int = DEFAULT_NUM_FRAMES  # frames sampled per video
    max_pixels: int = DEFAULT_MAX_PIXELS  # stored frames shrunk to at most this many pixels (0: source size)
    jpeg_quality: int = DEFAULT_JPEG_QUALITY  # JPEG quality of stored frames (1-100)
    workers: int = field(default_factory=available_cpus)  # parallel worker processes

    def validate(self) -> None:
        """Check values that need no file system access; raises :class:`ConfigError`."""
        if not self.video_dir and self.video_list is None:
            raise ConfigError("no input: pass --video-dir DIR (repeatable) or --video-list FILE")
        if self.num_frames < 1:
            raise ConfigError(f"--num-frames must be >= 1, got {self.num_frames}")
        if self.max_pixels < 0:
            raise ConfigError(f"--max-pixels must be >= 0 (0 keeps the source size), got {self.max_pixels}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"--jpeg-quality must be in 1..100, got {self.jpeg_quality}")
        if self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")

    def frame_settings(self) -> dict[str, int]:
        """The settings that determine the bytes of every frame (stored in ``settings.json``)."""
        return {
            "format_version": FORMAT_VERSION,
            "num_frames": self.num_frames,
            "max_pixels": self.max_pixels,
            "jpeg_quality": self.jpeg_quality,
        }


@dataclass(frozen=True)
class _Task:
    source: VideoSource
    output_dir: Path
    num_frames: int
    max_pixels: int
    jpeg_quality: int
    decoder_threads: int = 1


@dataclass(frozen=True)
class VideoOutcome:
    """What happened to one video: ``reason`` is empty on success."""

    video_id: str
    source: str
    num_frames_written: int = 0
    reason: str = ""
    wall_s: float = 0.0
    record: dict[str, Any] | None = None  # the index record, once every frame is written

    @property
    def ok(self) -> bool:
        return not self.reason


@dataclass
class SamplingSummary:
    """Counts of one run of :func:`run_frame_sampling`."""

    output_dir: Path
    num_videos: int = 0
    sampled: int = 0
    already_done: int = 0  # sampled by an earlier run (their record files exist)
    failed: int = 0
    frames_written: int = 0
    wall_s: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def frames_per_s(self) -> float:
        return self.frames_written / self.wall_s if self.wall_s > 0 else 0.0

    def one_line(self) -> str:
        return (
            f"sampled {self.sampled}, failed {self.failed}, already done {self.already_done} "
            f"of {self.num_videos} videos; {self.frames_written} frames in {self.wall_s:.1f} s "
            f"({self.frames_per_s:.1f} frames/s) -> {self.output_dir}"
        )


def sample_video(task: _Task) -> VideoOutcome:
    """Sample one video into ``task.output_dir/<video_id>/``; never raises for a bad video."""
    started = time.perf_counter()
    source = task.source
    try:
        record = _sample_video(task)
        elapsed = time.perf_counter() - started
        return VideoOutcome(source.video_id, str(source.path), record["num_frames"], "", elapsed, record)
    except VideoError as exc:
        reason = exc.reason
    except Exception as exc:  # noqa: BLE001 - recorded loudly as a failure, never as a silent success
        logger.exception("unexpected error on %s", source.path)
        reason = f"unexpected error (please report): {type(exc).__name__}: {exc}"
    return VideoOutcome(source.video_id, str(source.path), 0, reason, time.perf_counter() - started)


def _sample_video(task: _Task) -> dict[str, Any]:
    """Write the frames of one video; returns its index record (the driver journals it)."""
    # Imported here so that scripts start fast and worker processes import it once.
    from videossr.video.decoder import decode_frames, probe_video

    probe = probe_video(task.source.path)
    plan = plan_central_sampling(probe.num_frames, task.num_frames)
    (task.output_dir / task.source.video_id).mkdir(parents=True, exist_ok=True)
    height = width = quarter_turns = None
    written = 0
    for decoded in decode_frames(probe, plan.frame_indices, max_pixels=task.max_pixels, threads=task.decoder_threads):
        height, width = decoded.image.shape[:2]
        quarter_turns = decoded.quarter_turns
        frame_path(task.output_dir, task.source.video_id, decoded.position).write_bytes(
            encode_jpeg(decoded.image, task.jpeg_quality)
        )
        written += 1
    frame_times_s = [probe.frame_time_s(i) for i in plan.frame_indices]
    native_fps = probe.native_fps
    if len(plan.frame_indices) > 1:
        # Mean rate over the sampled span: exact for constant-rate video, and the right average
        # for variable-rate video, whose rate elsewhere does not matter to these frames.
        span_s = frame_times_s[-1] - frame_times_s[0]
        if span_s <= 0:
            raise VideoError("no usable timestamps: the sampled frames do not advance in time")
        native_fps = (plan.frame_indices[-1] - plan.frame_indices[0]) / span_s
    sample_fps = sample_fps_of(native_fps, plan.step)
    rotated = quarter_turns % 2 == 1
    record = {
        "video_id": task.source.video_id,
        "source": str(task.source.path),
        "num_frames": written,
        "frame_indices": list(plan.frame_indices),
        "frame_times_s": frame_times_s,
        "sample_fps": sample_fps,
        "start_s": frame_times_s[0],
        "native_fps": float(native_fps),
        "duration_s": probe.num_frames / float(probe.native_fps),
        "num_source_frames": probe.num_frames,
        "step": plan.step,
        "width": width,
        "height": height,
        "source_width": probe.coded_height if rotated else probe.coded_width,
        "source_height": probe.coded_width if rotated else probe.coded_height,
        "rotation_deg": quarter_turns * 90,
        "codec": probe.codec,
    }
    return record


def _check_not_inside_inputs(output_dir: Path, input_dirs: list[Path]) -> None:
    for input_dir in input_dirs:
        if output_dir == input_dir or input_dir in output_dir.parents:
            raise ConfigError(
                f"--output-dir {output_dir} is inside the input folder {input_dir}; "
                "outputs never go into input folders: pass an output folder outside it"
            )


def _check_settings(output_dir: Path, settings: dict[str, int]) -> None:
    settings_path = output_dir / SETTINGS_NAME
    if settings_path.exists():
        previous = read_json(settings_path)
        if previous != settings:
            changed = ", ".join(
                f"{key} {previous.get(key)} -> {value}" for key, value in settings.items() if previous.get(key) != value
            )
            raise ConfigError(
                f"{output_dir} holds frames made with other settings ({changed}); "
                "pass a new --output-dir, or the same settings to resume"
            )
    else:
        write_json_atomic(settings_path, settings)


def discover_sources(config: FrameSamplingConfig) -> list[VideoSource]:
    """The input videos of ``config``, sorted by id; raises :class:`ConfigError` on bad inputs."""
    sources = find_videos(config.video_dir) if config.video_dir else []
    if config.video_list is not None:
        listed = read_video_list(config.video_list)
        known = {s.video_id: s for s in sources}
        for source in listed:
            if source.video_id in known and known[source.video_id].path != source.path:
                raise ConfigError(
                    f"video id {source.video_id!r} names both {known[source.video_id].path} and {source.path}"
                )
            known[source.video_id] = source
        sources = sorted(known.values())
    return sources


def run_frame_sampling(
    config: FrameSamplingConfig,
    progress: Callable[[Iterator[VideoOutcome], int], Iterator[VideoOutcome]] | None = None,
) -> SamplingSummary:
    """Sample every input video of ``config``; see the module docstring for the outputs.

    Args:
        config: validated settings.
        progress: optional wrapper around the stream of finished videos (e.g. a progress bar),
            called with the stream and the number of videos to process.

    Raises:
        ConfigError: bad inputs (missing folders, output inside an input folder, settings that
            differ from those of the frames already in the output folder).
    """
    config.validate()
    started = time.perf_counter()
    started_at = utc_now()
    sources = discover_sources(config)
    output_dir = Path(config.output_dir).expanduser().resolve()
    input_dirs = [Path(d).expanduser().resolve() for d in config.video_dir]
    input_dirs += sorted({s.path.parent for s in sources if config.video_list is not None})
    _check_not_inside_inputs(output_dir, input_dirs)
    output_dir.mkdir(parents=True, exist_ok=True)
    # One run per output folder: a second one is refused at once instead of racing on the files.
    with exclusive_writer(output_dir):
        return _sample_into(output_dir, sources, config, progress, started, started_at)


def _sample_into(
    output_dir: Path,
    sources: list[VideoSource],
    config: FrameSamplingConfig,
    progress: Callable[[Iterator[VideoOutcome], int], Iterator[VideoOutcome]] | None,
    started: float,
    started_at: str,
) -> SamplingSummary:
    """:func:`run_frame_sampling` once the output folder's write lock is held."""
    remove_stale_temporaries(output_dir)
    _check_settings(output_dir, config.frame_settings())
    # The manifest certifies a complete run; this run is not complete yet.
    (output_dir / MANIFEST_NAME).unlink(missing_ok=True)

    summary = SamplingSummary(output_dir=output_dir, num_videos=len(sources))
    # Done: in the index of an earlier complete run, or in the journal of an unfinished one.
    done = {r["video_id"]: r for r in load_index(output_dir)} if (output_dir / INDEX_NAME).exists() else {}
    with AppendLog(output_dir / JOURNAL_PATH, header=config.frame_settings()) as journal:
        done.update((r["video_id"], r) for r in journal.entries)
        _sample_missing(output_dir, sources, done, journal, config, progress, summary)
    write_jsonl_atomic(output_dir / INDEX_NAME, [done[s.video_id] for s in sources if s.video_id in done])
    write_jsonl_atomic(output_dir / FAILURES_NAME, summary.failures)
    summary.wall_s = time.perf_counter() - started
    write_json_atomic(output_dir / MANIFEST_NAME, _manifest(config, summary, started_at))
    (output_dir / JOURNAL_PATH).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the journal's folder, if nothing else is in it
        (output_dir / JOURNAL_PATH).parent.rmdir()
    return summary


def _sample_missing(
    output_dir: Path,
    sources: list[VideoSource],
    done: dict[str, dict[str, Any]],
    journal: AppendLog,
    config: FrameSamplingConfig,
    progress: Callable[[Iterator[VideoOutcome], int], Iterator[VideoOutcome]] | None,
    summary: SamplingSummary,
) -> None:
    """Sample the videos not in ``done``: each finished record is journalled, then added to ``done``."""
    todo = [s for s in sources if s.video_id not in done]
    summary.already_done = len(sources) - len(todo)
    ray_target = config.ray_target()
    workers = min(config.workers, max(1, len(todo)))
    # Spare cores (fewer videos than CPUs) go to the decoders as frame threads; a Ray task owns one CPU.
    threads = 1 if ray_target else max(1, available_cpus() // workers)
    tasks = [_Task(s, output_dir, config.num_frames, config.max_pixels, config.jpeg_quality, threads) for s in todo]
    outcomes = _run_tasks(tasks, 0 if ray_target else workers, ray_target)
    if progress is not None:
        outcomes = progress(outcomes, len(tasks))
    failures = []
    for outcome in outcomes:
        if outcome.ok:
            journal.append(outcome.record)
            done[outcome.video_id] = outcome.record
            summary.sampled += 1
            summary.frames_written += outcome.num_frames_written
        else:
            failures.append({"video_id": outcome.video_id, "source": outcome.source, "reason": outcome.reason})
            _remove_partial(output_dir, outcome.video_id)
    failures.sort(key=lambda row: row["video_id"])
    summary.failed = len(failures)
    summary.failures = failures


def _run_tasks(tasks: list[_Task], workers: int, ray_address: str | None = None) -> Iterator[VideoOutcome]:
    for task, result in map_unordered(sample_video, tasks, workers, ray_address=ray_address):
        if isinstance(result, WorkerCrash):
            result = VideoOutcome(task.source.video_id, str(task.source.path), 0, f"decoder crashed: {result.message}")
        yield result


def _remove_partial(output_dir: Path, video_id: str) -> None:
    """Delete the frames a failed video left behind (only its own files, never sub-folders)."""
    video_dir = output_dir / video_id
    if not video_dir.is_dir():
        return
    for path in video_dir.iterdir():
        if path.is_file() and path.suffix == ".jpg":
            path.unlink()
    try:
        video_dir.rmdir()  # only if empty: other videos' ids may nest below this one
    except OSError:
        pass


def _manifest(config: FrameSamplingConfig, summary: SamplingSummary, started_at: str) -> dict[str, Any]:
    return {
        "stage": "sample_frames",
        "config": config_to_dict(config),
        "settings": config.frame_settings(),
        "counts": {
            "videos": summary.num_videos,
            "sampled": summary.sampled,
            "already_done": summary.already_done,
            "failed": summary.failed,
            "in_index": summary.sampled + summary.already_done,
            "frames_written": summary.frames_written,
        },
        "wall_s": round(summary.wall_s, 3),
        "frames_per_s": round(summary.frames_per_s, 2),
        "started_at": started_at,
        "finished_at": utc_now(),
        "versions": package_versions(),
    }
