"""One self-contained HTML report of result folders: VIUBench runs, external vqa/vtg runs, lmms-eval runs.

The paper's Table 1 row of every VIUBench run beside the published rows, external metrics per
category with an IoU histogram, the unparsed/failed counts with examples, and a seeded gallery
of items (contact sheet, question, ground truth, each model's response, parsed answer, score)
with filters. Opens offline: CSS, script and images are inside the file.

Examples:
    python eval/report.py results/viubench/random results/viubench/qwen3vl8b --output report.html
    python eval/report.py results/viubench/* results/vtg/charades --output report.html --per-group 8
    python eval/report.py results/viubench/random results/lmms_eval --output report.html
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from videossr.cli import OneLineErrorParser, fail

PROG = Path(__file__).name


def _parser() -> argparse.ArgumentParser:
    # A hand-made parser: the dataclass flag helper has no repeatable positional argument.
    parser = OneLineErrorParser(
        prog=PROG, description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "result_dirs",
        nargs="+",
        type=Path,
        metavar="RESULT_DIR",
        help="run folders holding summary.json (eval/viubench.py run, eval/vqa.py, eval/vtg.py), or lmms-eval "
        "output folders (its --output_path or a model folder in it; runs made with --log_samples)",
    )
    parser.add_argument("--output", type=Path, required=True, help="the HTML file to write")
    parser.add_argument(
        "--per-group",
        type=int,
        default=4,
        help="gallery items per VIUBench subtype / external category (seeded sample)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the gallery sample")
    parser.add_argument(
        "--benchmark",
        type=Path,
        default=None,
        help="benchmark file to use instead of the one each summary names (moved files)",
    )
    parser.add_argument("--title", default="VideoSSR results", help="page title")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from videossr.errors import ConfigError
    from videossr.io import atomic_open
    from videossr.report.eval_report import build_report

    started = time.perf_counter()
    try:
        document, stats = build_report(
            args.result_dirs, per_group=args.per_group, seed=args.seed, benchmark=args.benchmark, title=args.title
        )
    except ConfigError as exc:
        fail(str(exc), PROG)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.output, "w") as handle:
        handle.write(document)
    args.output.chmod(0o644)  # a report is for sharing; the temporary file was private (0600)
    print(
        f"{stats.num_runs} runs, {stats.num_items_shown} gallery items, {stats.size_bytes / 1e6:.2f} MB, "
        f"{time.perf_counter() - started:.1f} s"
    )
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
