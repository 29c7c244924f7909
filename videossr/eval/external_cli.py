"""What ``eval/vqa.py`` and ``eval/vtg.py`` share: their flags (:class:`ExternalConfig`) and their steps."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videossr.cli import config_to_dict, fail, parse_config, script_parser
from videossr.errors import ConfigError
from videossr.eval.run import RESPONSES_NAME, SUMMARY_NAME, BackendConfig, add_backend_flags, answer_items


@dataclass(kw_only=True)
class ExternalConfig(BackendConfig):
    """The flags of ``eval/vqa.py`` and ``eval/vtg.py`` (:func:`build_parser`)."""

    benchmark: Path
    video_dir: Path | None = None
    output_dir: Path
    max_frames: int = 48
    fps: float = 2.0
    max_pixels: int = 512 * 512
    max_new_tokens: int = 128
    legacy_denominator: bool = False
    decode_workers: int = 0
    cache_videos: int = 8
    skip_invalid: bool = False
    score_only: bool = False

    def validate(self) -> None:
        if not self.score_only:
            self.validate_backend()
            if self.video_dir is None:
                raise ConfigError("--video-dir is required to run a model (not for --score-only)")
        if self.max_frames < 2:
            raise ConfigError(f"--max-frames must be >= 2, got {self.max_frames}")
        if self.fps <= 0:
            raise ConfigError(f"--fps must be > 0, got {self.fps}")
        if self.decode_workers < 0 or self.cache_videos < 1:
            raise ConfigError(
                f"--decode-workers must be >= 0 and --cache-videos >= 1, got {self.decode_workers}, {self.cache_videos}"
            )


def _format(summary: dict[str, Any], main_keys: list[str]) -> str:
    lines = ["  ".join(f"{k} {summary[k]:.1f}" for k in main_keys)]
    lines.append(
        f"{summary['num_items']} items: {summary['num_unparsed']} unparsed, {summary['num_errors']} errors, "
        f"{summary['num_missing']} missing; denominator: {summary['denominator']}"
    )
    if summary.get("num_invalid_skipped"):
        lines.append(f"{summary['num_invalid_skipped']} invalid records skipped (ids in summary.json)")
    for name, block in summary.get("categories", {}).items():
        lines.append(
            f"  {name:<30}" + "  ".join(f"{k} {block[k]:.1f}" for k in main_keys) + f"  (n={block['num_items']})"
        )
    for example in summary.get("unparsed_examples", [])[:3]:
        lines.append(f"  unparsed {example['id']}: {example['response'][:100]!r}")
    return "\n".join(lines)


def load_valid_records(config: ExternalConfig, kind: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The benchmark's records, each answer checked (``kind``: ``vqa`` or ``vtg``), and the skipped ids.

    Raises ConfigError listing the invalid records' ids unless ``--skip-invalid``.
    """
    from videossr.eval import external

    return external.validate_records(external.load_records(config.benchmark), kind, skip_invalid=config.skip_invalid)


def protocol_of(config: ExternalConfig):
    """The frames-and-decoding protocol of the flags (the paper's by default)."""
    from videossr.eval.external import Protocol

    return Protocol(
        max_frames=config.max_frames, max_pixels=config.max_pixels, fps=config.fps, max_new_tokens=config.max_new_tokens
    )


def answer_benchmark(config: ExternalConfig, kind: str, records: list[dict[str, Any]]) -> None:
    """Answer every record not yet in the run folder: each video decoded once for all its questions."""
    from videossr.eval import external

    lookup = external.VideoLookup(config.video_dir)
    order = external.group_by_video(records)  # a video's questions together: decoded once
    with external.FrameCache(config.cache_videos, config.decode_workers) as cache:
        maker = external.RequestMaker(kind, records, lookup, protocol_of(config), cache, order)
        stats = answer_items(order, maker, config, config.output_dir, config_to_dict(config))
    print(
        f"answered {stats.answered} ({stats.errors} errors), already done {stats.already_done}, "
        f"{stats.items_per_s:.2f} items/s"
    )


def read_run_responses(config: ExternalConfig) -> dict[str, dict[str, Any]]:
    """The run folder's responses by record id."""
    from videossr.eval.responses import read_responses

    return read_responses(config.output_dir / RESPONSES_NAME)


def write_summary(
    config: ExternalConfig, kind: str, summary: dict[str, Any], skipped: list[str], keys: list[str]
) -> None:
    """Write ``summary.json`` (metrics, the skipped records, config, model, versions) and print it."""
    from videossr.io import write_json_atomic
    from videossr.provenance import package_versions, utc_now

    summary = {**summary, "num_invalid_skipped": len(skipped), "invalid_ids": skipped}
    write_json_atomic(
        config.output_dir / SUMMARY_NAME,
        {
            "benchmark": str(config.benchmark),
            "kind": kind,
            **summary,
            "config": config_to_dict(config),
            "model": config.model,
            "backend": config.backend,
            "finished_at": utc_now(),
            "versions": package_versions(),
        },
    )
    print(_format(summary, keys))
    print(f"summary -> {config.output_dir / SUMMARY_NAME}")


def evaluate(kind: str, config: ExternalConfig, score, keys: list[str]) -> int:
    """The steps of ``eval/vqa.py`` / ``eval/vtg.py``; ``score`` is the kind's scorer, ``keys`` its headline metrics.

    1. load the records and check every answer (the invalid ones listed by id, or skipped with
       ``--skip-invalid``); 2. unless ``--score-only``, answer what the run folder does not hold yet,
    each video decoded once; 3. score every record (unanswered ones count as wrong); 4. write and
    print ``summary.json``. A bad flag or file stops with one line and exit status 2.
    """
    prog = f"{kind}.py"
    try:
        records, skipped = load_valid_records(config, kind)
        if not config.score_only:
            answer_benchmark(config, kind, records)
        summary = score(records, read_run_responses(config), legacy=config.legacy_denominator)
    except ConfigError as exc:
        fail(str(exc), prog)
    write_summary(config, kind, summary, skipped, keys)
    return 0


def build_parser(doc: str, prog: str) -> argparse.ArgumentParser:
    """The parser of ``eval/vqa.py`` / ``eval/vtg.py``: the benchmark, the protocol, the backend."""
    parser = script_parser(doc, prog)
    parser.add_argument(
        "--benchmark",
        type=Path,
        required=True,
        help="records file: JSON list or JSONL of {video, question, ground_truth}",
    )
    parser.add_argument("--video-dir", type=Path, help="folder holding <video>.<ext> files (searched recursively)")
    parser.add_argument("--output-dir", type=Path, required=True, help="run folder (responses.jsonl, summary.json)")
    parser.add_argument("--max-frames", type=int, help="at most this many frames (the paper: 32, 48, 64)")
    parser.add_argument("--fps", type=float, help="frames per second sampled")
    parser.add_argument("--max-pixels", type=int, help="pixels per frame at most")
    parser.add_argument("--max-new-tokens", type=int, help="answer budget in tokens")
    parser.add_argument(
        "--legacy-denominator",
        action=argparse.BooleanOptionalAction,
        help="drop unparsed/failed items from the denominator, as the released code did (inflates scores; "
        "for comparison only)",
    )
    parser.add_argument(
        "--decode-workers",
        type=int,
        help="worker processes decoding videos ahead of the model, one video each (0: threads of this process)",
    )
    parser.add_argument("--cache-videos", type=int, help="decoded videos kept, so a video's questions decode it once")
    parser.add_argument(
        "--skip-invalid",
        action=argparse.BooleanOptionalAction,
        help="skip records whose ground truth or options are invalid (counted in summary.json) instead of stopping",
    )
    parser.add_argument(
        "--score-only",
        action=argparse.BooleanOptionalAction,
        help="re-score output-dir/responses.jsonl without a model",
    )
    add_backend_flags(parser)
    return parser


def parse_flags(argv: list[str] | None, doc: str, prog: str) -> ExternalConfig:
    """The flags of ``eval/vqa.py`` / ``eval/vtg.py`` parsed into a checked :class:`ExternalConfig`."""
    return parse_config(build_parser(doc, prog), ExternalConfig, argv)


__all__ = [
    "ExternalConfig",
    "answer_benchmark",
    "evaluate",
    "fail",
    "load_valid_records",
    "parse_flags",
    "read_run_responses",
    "write_summary",
]
