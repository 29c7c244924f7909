"""Render one row of a data file as a contact sheet (PNG), to eyeball that a sample is right.

Frames appear in the order the model sees them, labelled with their time on the model's clock;
the perturbed span (grounding), the drawn shapes (counting) or each clip's true place (jigsaw) are
marked, with the question and the ground truth on top. With ``--html``, one offline HTML page of
the whole file (or of every data file of a folder, e.g. a training mix) instead: distributions
of tasks, perturbations, segment lengths and answers, and a seeded grid of contact sheets.

Examples:
    python pretext_tasks/preview.py outputs/demo/data/grounding/channelswap.parquet --index 0
    python pretext_tasks/preview.py outputs/demo/data/counting/easy.parquet --index 2 --output /tmp/c.png
    python pretext_tasks/preview.py outputs/demo/mix --html outputs/demo/mix_report.html
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from videossr.cli import fail, parse_config, script_parser
from videossr.errors import ConfigError


@dataclass(kw_only=True)
class PreviewConfig:
    data_file: Path
    index: int = 0
    output: Path | None = None
    html: Path | None = None
    per_group: int = 3
    seed: int = 0


def build_parser():
    parser = script_parser(__doc__, Path(__file__).name)
    parser.add_argument(
        "data_file",
        type=Path,
        metavar="FILE",
        help="a .parquet data file (with --html also a folder of them, e.g. a mix)",
    )
    parser.add_argument("--index", type=int, help="row to render (0-based)")
    parser.add_argument("--output", type=Path, help="PNG to write (default: <data dir>/previews/<name>_<index>.png)")
    parser.add_argument("--html", type=Path, help="write an HTML report of the whole file/folder here instead")
    parser.add_argument("--per-group", type=int, help="--html: sample rows per task and variant in the grid")
    parser.add_argument("--seed", type=int, help="--html: seed of the sample")
    return parser


def main(argv: list[str] | None = None) -> int:
    prog = Path(__file__).name
    config = parse_config(build_parser(), PreviewConfig, argv)
    if config.html is not None:
        return _write_html(config, prog)
    import cv2

    from videossr.data.generation import read_rows
    from videossr.report.preview import render_contact_sheet

    try:
        rows = read_rows(config.data_file)
        if not 0 <= config.index < len(rows):
            raise ConfigError(f"--index {config.index} is outside 0..{len(rows) - 1} of {config.data_file}")
    except ConfigError as exc:
        fail(str(exc), prog)
    output = config.output or config.data_file.parent / "previews" / f"{config.data_file.stem}_{config.index}.png"
    output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(output), render_contact_sheet(rows[config.index])):
        fail(f"could not write {output} (is the extension .png or .jpg?)", prog)
    print(output)
    return 0


def _write_html(config: PreviewConfig, prog: str) -> int:
    from videossr.io import atomic_open
    from videossr.report.data_report import build_data_report

    if config.per_group < 0:
        fail(f"--per-group must be >= 0, got {config.per_group}", prog)
    try:
        document, shown = build_data_report(config.data_file, per_group=config.per_group, seed=config.seed)
    except ConfigError as exc:
        fail(str(exc), prog)
    with atomic_open(config.html, "w") as handle:
        handle.write(document)
    config.html.chmod(0o644)  # for sharing; the temporary file was private
    print(f"{shown} sample rows, {len(document.encode()) / 1e6:.2f} MB")
    print(config.html)
    return 0


if __name__ == "__main__":
    sys.exit(main())
