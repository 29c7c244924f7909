"""VIUBench: build the benchmark from sampled frames, answer it with a model, score the answers.

    build   frames folder -> OUT/viubench.json (9 subtypes, each video used once, 512x512 frames)
    run     answer it with a model (or the random baseline) into R/responses.jsonl, then score
    score   re-score R/responses.jsonl without a model -> R/summary.json and the Table 1 row

Examples:
    python eval/viubench.py build --frames-dir /scratch/frames48 --output-dir /scratch/viubench
    python eval/viubench.py run --benchmark /scratch/viubench/viubench.json \\
        --backend vllm --model /models/Qwen3-VL-8B-Instruct --output-dir results/viubench/qwen3vl8b
    python eval/viubench.py run --benchmark /scratch/viubench/viubench.json --backend random \\
        --output-dir results/viubench/random
    python eval/viubench.py score --benchmark /scratch/viubench/viubench.json \\
        --responses results/viubench/qwen3vl8b/responses.jsonl
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from videossr.cli import config_to_dict, fail, parse_subcommand, progress_bar
from videossr.errors import ConfigError
from videossr.parallel import RayOptions, available_cpus

PROG = Path(__file__).name


@dataclass
class BuildConfig(RayOptions):
    frames_dir: Path | None = field(
        default=None, metadata={"help": "frames folder made by sample_frames.py", "required": True}
    )
    output_dir: Path | None = field(
        default=None, metadata={"help": "folder for viubench.json and its frames", "required": True}
    )
    per_subtype: int = field(default=300, metadata={"help": "questions per subtype (the paper: 300, 2,700 in all)"})
    seed: int = field(default=0, metadata={"help": "seed of the video assignment and of every sample"})
    reuse_videos: bool = field(default=False, metadata={"help": "let subtypes share videos (tiny corpora only)"})
    workers: int = field(default_factory=available_cpus, metadata={"help": "parallel worker processes"})
    # The choices are videossr.tasks.counting.PLACEMENTS, spelled out so --help stays instant (no
    # OpenCV import); build_viubench validates the value again.
    placement: str = field(
        default="separate",
        metadata={
            "help": "counting shapes: separate (never overlap; the default) or released (the released "
            "code's rule, overlaps included)",
            "choices": ["separate", "released"],
        },
    )


def _backend_config_cls():
    from videossr.eval.run import BackendConfig

    @dataclass
    class RunConfig(BackendConfig):
        benchmark: Path | None = field(default=None, metadata={"help": "viubench.json", "required": True})
        output_dir: Path | None = field(
            default=None, metadata={"help": "run folder (responses, summary)", "required": True}
        )
        max_new_tokens: int = field(default=64, metadata={"help": "answer budget in tokens"})

        def validate(self) -> None:
            self.validate_backend()

    return RunConfig


@dataclass
class ScoreConfig:
    benchmark: Path | None = field(default=None, metadata={"help": "viubench.json", "required": True})
    responses: Path | None = field(
        default=None, metadata={"help": "responses.jsonl (id, response per line)", "required": True}
    )
    output_dir: Path | None = field(
        default=None, metadata={"help": "where summary.json goes (default: beside the responses)"}
    )


def _score(benchmark: Path, responses_path: Path, output_dir: Path, strict: bool, details: dict) -> None:
    from videossr.eval.responses import read_responses
    from videossr.eval.viubench import format_table, load_benchmark, score_benchmark, write_summary

    records = load_benchmark(benchmark)
    responses = read_responses(responses_path, strict=strict)
    unknown = set(responses) - {r["id"] for r in records}
    if unknown:
        raise ConfigError(f"{responses_path} answers ids that are not in {benchmark}, e.g. {sorted(unknown)[0]!r}")
    summary = score_benchmark(records, responses)
    backends = sorted({str(e.get("backend")) for e in responses.values() if e.get("backend")})
    write_summary(
        output_dir / "summary.json",
        summary,
        benchmark=str(benchmark),
        responses=str(responses_path),
        backends=backends,
        **details,
    )
    label = Path(details["model"]).name if details.get("model") else ",".join(backends) or "responses"
    print(format_table(summary, label=label))
    print(f"summary -> {output_dir / 'summary.json'}")


def main(argv: list[str] | None = None) -> int:
    command, config = parse_subcommand(
        {
            "build": (BuildConfig, "build viubench.json from a frames folder"),
            "run": (_backend_config_cls(), "answer the benchmark with a model, then score"),
            "score": (ScoreConfig, "score a responses.jsonl (no model needed)"),
        },
        argv,
        description=__doc__.split("\n\n")[0],
        prog=PROG,
    )
    try:
        if command == "build":
            from videossr.eval.viubench import build_viubench

            path = build_viubench(
                config.frames_dir,
                config.output_dir,
                per_subtype=config.per_subtype,
                seed=config.seed,
                reuse_videos=config.reuse_videos,
                workers=config.workers,
                counting_placement=config.placement,
                ray_address=config.ray_target(),
                progress=progress_bar("building", "question"),
            )
            print(f"VIUBench -> {path}")
        elif command == "run":
            from videossr.eval.run import RESPONSES_NAME, answer_items
            from videossr.eval.viubench import load_benchmark, request_of

            records = {r["id"]: r for r in load_benchmark(config.benchmark)}
            stats = answer_items(
                list(records),
                lambda i: request_of(records[i], config.max_new_tokens),
                config,
                config.output_dir,
                config_to_dict(config),
            )
            print(
                f"answered {stats.answered} ({stats.errors} errors), already done {stats.already_done}, "
                f"{stats.items_per_s:.2f} items/s"
            )
            _score(
                config.benchmark,
                config.output_dir / RESPONSES_NAME,
                config.output_dir,
                strict=False,
                details={"model": config.model, "backend": config.backend},
            )
        else:
            output_dir = config.output_dir or config.responses.parent
            _score(config.benchmark, config.responses, output_dir, strict=True, details={})
    except (ConfigError, ConnectionError) as exc:
        fail(str(exc), PROG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
