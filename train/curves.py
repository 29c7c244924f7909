"""Training curves of verl runs as one offline HTML page: reward, per-task validation reward, KL,
entropy, response length, grad norm, step time, throughput; several runs overlaid.

Reads the metrics verl's file logger wrote (``RUN/metrics/*.jsonl``; train/train.sh turns it on),
so it works on a finished, a running or a killed-and-resumed run alike.

Examples:
    python train/curves.py outputs/checkpoints/VideoSSR/videossr30k-grpo --output curves.html
    python train/curves.py runs/seed0 runs/seed1 runs/seed2 runs/lr0 --output learning.html
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from videossr.cli import OneLineErrorParser, fail

PROG = Path(__file__).name


def _parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog=PROG, description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN",
        help="a run folder (trainer.default_local_dir, holding metrics/), a metrics folder or a metrics .jsonl",
    )
    parser.add_argument("--output", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--title", default="Training curves", help="page title")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from videossr.errors import ConfigError
    from videossr.io import atomic_open
    from videossr.report.training_curves import build_page

    try:
        document, runs = build_page(args.runs, title=args.title)
    except ConfigError as exc:
        fail(str(exc), PROG)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.output, "w") as handle:
        handle.write(document)
    args.output.chmod(0o644)
    print(", ".join(f"{run.label}: {len(run.steps)} steps" for run in runs))
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
