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

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from videossr.cli import add_command, command_parsers, config_to_dict, fail, parse_command, progress_bar
from videossr.errors import ConfigError
from videossr.parallel import RayOptions, add_ray_flags, add_workers_flag, available_cpus

PROG = Path(__file__).name


@dataclass(kw_only=True)
class BuildConfig(RayOptions):
    frames_dir: Path
    output_dir: Path
    per_subtype: int = 300
    seed: int = 0
    reuse_videos: bool = False
    workers: int = field(default_factory=available_cpus)
    placement: str = "separate"


def _run_config_cls():
    from videossr.eval.run import BackendConfig

    @dataclass(kw_only=True)
    class RunConfig(BackendConfig):
        benchmark: Path
        output_dir: Path
        max_new_tokens: int = 64

        def validate(self) -> None:
            self.validate_backend()

    return RunConfig


@dataclass(kw_only=True)
class ScoreConfig:
    benchmark: Path
    responses: Path
    output_dir: Path | None = None  # default: beside the responses


def build_parsers():
    """The parser and, per command, its parser and config class."""
    from videossr.eval.run import add_backend_flags

    parser, commands = command_parsers(__doc__, PROG)
    build = add_command(commands, "build", "build viubench.json from a frames folder")
    build.add_argument("--frames-dir", type=Path, required=True, help="frames folder made by sample_frames.py")
    build.add_argument("--output-dir", type=Path, required=True, help="folder for viubench.json and its frames")
    build.add_argument("--per-subtype", type=int, help="questions per subtype (the paper: 300, 2,700 in all)")
    build.add_argument("--seed", type=int, help="seed of the video assignment and of every sample")
    build.add_argument(
        "--reuse-videos", action=argparse.BooleanOptionalAction, help="let subtypes share videos (tiny corpora only)"
    )
    add_workers_flag(build)
    # The choices are videossr.tasks.counting.PLACEMENTS, spelled out so --help stays instant (no
    # OpenCV import); build_viubench validates the value again.
    build.add_argument(
        "--placement",
        choices=["separate", "released"],
        help="counting shapes: separate (never overlap; the default) or released (the released code's rule, "
        "overlaps included)",
    )
    add_ray_flags(build)
    run = add_command(commands, "run", "answer the benchmark with a model, then score")
    run.add_argument("--benchmark", type=Path, required=True, help="viubench.json")
    run.add_argument("--output-dir", type=Path, required=True, help="run folder (responses, summary)")
    run.add_argument("--max-new-tokens", type=int, help="answer budget in tokens")
    add_backend_flags(run)
    score = add_command(commands, "score", "score a responses.jsonl (no model needed)")
    score.add_argument("--benchmark", type=Path, required=True, help="viubench.json")
    score.add_argument("--responses", type=Path, required=True, help="responses.jsonl (id, response per line)")
    score.add_argument("--output-dir", type=Path, help="where summary.json goes (default: beside the responses)")
    return parser, {"build": (build, BuildConfig), "run": (run, _run_config_cls()), "score": (score, ScoreConfig)}


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
    parser, commands = build_parsers()
    command, config = parse_command(parser, commands, argv)
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
