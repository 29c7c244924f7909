"""The shared command line of ``eval/vqa.py`` and ``eval/vtg.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videossr.cli import config_to_dict, fail, parse_config
from videossr.errors import ConfigError
from videossr.eval.run import RESPONSES_NAME, SUMMARY_NAME, BackendConfig, answer_items


@dataclass
class ExternalConfig(BackendConfig):
    benchmark: Path | None = field(
        default=None,
        metadata={"help": "records file: JSON list or JSONL of {video, question, answer}", "required": True},
    )
    video_dir: Path | None = field(
        default=None, metadata={"help": "folder holding <video>.<ext> files (searched recursively)"}
    )
    output_dir: Path | None = field(
        default=None, metadata={"help": "run folder (responses.jsonl, summary.json)", "required": True}
    )
    max_frames: int = field(default=48, metadata={"help": "at most this many frames (the paper: 32, 48, 64)"})
    fps: float = field(default=2.0, metadata={"help": "frames per second sampled"})
    max_pixels: int = field(default=512 * 512, metadata={"help": "pixels per frame at most"})
    max_new_tokens: int = field(default=128, metadata={"help": "answer budget in tokens"})
    legacy_denominator: bool = field(
        default=False,
        metadata={
            "help": "drop unparsed/failed items from the denominator, as the released code did "
            "(inflates scores; for comparison only)"
        },
    )
    decode_workers: int = field(
        default=0,
        metadata={
            "help": "worker processes decoding videos ahead of the model (0: decode in the answering process's threads)"
        },
    )
    cache_videos: int = field(
        default=8, metadata={"help": "decoded videos kept, so a video's questions decode it once"}
    )
    skip_invalid: bool = field(
        default=False,
        metadata={
            "help": "skip records whose answer or options are invalid (counted in summary.json) instead of stopping"
        },
    )
    score_only: bool = field(default=False, metadata={"help": "re-score output-dir/responses.jsonl without a model"})

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


def main(kind: str, doc: str, argv: list[str] | None = None) -> int:
    """Run (unless --score-only) and score one external benchmark; ``kind`` is ``vqa`` or ``vtg``."""
    prog = f"{kind}.py"
    config = parse_config(ExternalConfig, argv, description=doc.split("\n\n")[0], prog=prog)
    from videossr.eval import external
    from videossr.eval.responses import read_responses
    from videossr.io import write_json_atomic
    from videossr.provenance import package_versions, utc_now

    try:
        records, skipped = external.validate_records(
            external.load_records(config.benchmark), kind, skip_invalid=config.skip_invalid
        )
        protocol = external.Protocol(
            max_frames=config.max_frames,
            max_pixels=config.max_pixels,
            fps=config.fps,
            max_new_tokens=config.max_new_tokens,
        )
        if not config.score_only:
            lookup = external.VideoLookup(config.video_dir)
            order = external.group_by_video(records)  # a video's questions together: decoded once
            with external.FrameCache(config.cache_videos, config.decode_workers) as cache:
                maker = external.RequestMaker(kind, records, lookup, protocol, cache, order)
                stats = answer_items(order, maker, config, config.output_dir, config_to_dict(config))
            print(
                f"answered {stats.answered} ({stats.errors} errors), resumed past {stats.skipped}, "
                f"{stats.items_per_s:.2f} items/s"
            )
        responses = read_responses(config.output_dir / RESPONSES_NAME)
        score = external.score_vqa if kind == "vqa" else external.score_vtg
        summary = score(records, responses, legacy=config.legacy_denominator)
        summary.update(num_invalid_skipped=len(skipped), invalid_ids=skipped)
    except ConfigError as exc:
        fail(str(exc), prog)
    keys = ["accuracy"] if kind == "vqa" else ["miou", "recall@0.3", "recall@0.5", "recall@0.7"]
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
    return 0
