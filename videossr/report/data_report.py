"""The data-file report: distributions and a sample grid of a training file or a whole mix, as HTML.

Reads data rows (verl's row format, as :func:`videossr.data.generation.read_rows` returns them) and
writes nothing. Plots: rows per task and per perturbation / difficulty / clip count, segment
lengths and starts (grounding, in frames), counts per shape (counting), the shown position of
every original clip (jigsaw) and the most frequent answers. The grid holds a seeded sample of
``per_group`` rows per (task, variant) with their contact sheets.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import cv2

from videossr.errors import ConfigError
from videossr.report.html import (
    PALETTE,
    anchor_id,
    esc,
    filter_bar,
    jpeg_data_uri,
    page,
    svg_hbars,
)
from videossr.tasks.registry import get_task
from videossr.tasks.seeds import derive_seed, rng_for

logger = logging.getLogger(__name__)

DEFAULT_PER_GROUP = 3


def data_files(path: str | Path) -> list[Path]:
    """``path`` itself (a .parquet file) or the data files of a folder (a mix), sorted.

    A folder's data files are its own ``.parquet`` files (``val.parquet``) and those one level down,
    in the task folders (``grounding/channelswap.parquet``); deeper ones (``val_parts/...``) are not.

    Raises:
        ConfigError: the path does not exist or a folder holds no .parquet file.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted([*path.glob("*.parquet"), *path.glob("*/*.parquet")])
        if not files:
            raise ConfigError(f"{path} holds no .parquet data file")
        return files
    if not path.is_file():
        raise ConfigError(f"data file not found: {path}")
    return [path]


def variant_of(row: dict[str, Any]) -> str:
    """The row's variant as its task shows it (``ChannelSwap``, ``easy``, ``6 clips``); ``-`` if unknown."""
    try:
        return get_task(row["data_source"]).variant_label(row.get("extra_info") or {})
    except (ConfigError, KeyError):
        return "-"


def _counter_bars(counter: Counter, color: str) -> list[tuple[str, float, str]]:
    return [(str(k), float(v), color) for k, v in counter.most_common()]


def distributions(rows: list[dict[str, Any]]) -> str:
    """The plots of the rows' distributions (HTML with inline SVG); a task absent gives no plot."""
    tasks = Counter(r["data_source"] for r in rows)
    task_bars = svg_hbars(_counter_bars(tasks, PALETTE[0]), width_px=420, value_format="{:.0f}")
    parts = [f"<div class=plot><b>rows per task</b><br>{task_bars}</div>"]
    variants = Counter(f"{r['data_source']}: {variant_of(r)}" for r in rows)
    variant_bars = svg_hbars(_counter_bars(variants, PALETTE[1]), width_px=480, value_format="{:.0f}")
    parts.append(f"<div class=plot><b>rows per variant</b><br>{variant_bars}</div>")
    # Each task plots its own rows' distributions, in the order the tasks first appear.
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[row["data_source"]].append(row)
    for name, task_rows in by_task.items():
        try:
            task = get_task(name)
        except ConfigError:
            continue  # rows of a task this process does not know: counted above, not plotted
        parts.extend(task.report_plots(task_rows))
    answers = Counter(f"{r['data_source']}: {r['reward_model']['ground_truth']}" for r in rows)
    top_answers = answers.most_common(10)
    parts.append(
        f"<div class=plot><b>most frequent answers ({len(answers)} distinct of {len(rows)})</b><br>"
        f"{svg_hbars([(k, float(v), PALETTE[4]) for k, v in top_answers], width_px=480, value_format='{:.0f}')}</div>"
    )
    return "<div>" + "".join(parts) + "</div>"


def sample_grid(rows: list[dict[str, Any]], per_group: int, seed: int) -> tuple[str, int]:
    """Contact sheets of ``per_group`` seeded rows per (task, variant); returns (html, rows shown)."""
    from videossr.report.preview import render_contact_sheet

    groups: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[f"{row['data_source']} / {variant_of(row)}"].append(index)
    blocks, total = [], 0
    for group in sorted(groups):
        indices = groups[group]
        if len(indices) > per_group:
            picks = rng_for(derive_seed(seed, "data-report", group)).choice(len(indices), size=per_group, replace=False)
            indices = [indices[k] for k in sorted(picks.tolist())]
        items = []
        for index in indices:
            row = rows[index]
            try:
                sheet = jpeg_data_uri(render_contact_sheet(row))
                image = f'<img loading="lazy" alt="contact sheet of row {index}" src="{sheet}">'
            except (KeyError, IndexError, TypeError, ValueError, cv2.error) as exc:
                logger.warning("no contact sheet for row %d: %s", index, exc)
                image = '<div class="noimg">frames not available</div>'
            extra = row.get("extra_info") or {}
            ident = anchor_id("row", row.get("_file", ""), index)
            items.append(
                f'<div class="item" id="{ident}" data-wrong="0" data-unparsed="0"><a class="anchor" href="#{ident}">'
                f"#{esc(row.get('_file', ''))} row {index}</a> &nbsp; video {esc(extra.get('video_id', '?'))} &nbsp; "
                f"ground truth: <b>{esc(row['reward_model']['ground_truth'])}</b>{image}"
                f"<div class=q>{esc(extra.get('question', ''))}</div></div>"
            )
        total += len(items)
        blocks.append(
            f"<div class=group><h3>{esc(group)} <span class=note>({len(items)} of {len(groups[group])} rows)"
            f"</span></h3>{''.join(items)}</div>"
        )
    return "".join(blocks), total


def build_data_report(path: str | Path, *, per_group: int = DEFAULT_PER_GROUP, seed: int = 0) -> tuple[str, int]:
    """The HTML report of a data file or a mix folder; returns (document, sample rows shown).

    Raises:
        ConfigError: a missing or unreadable file, a folder without .parquet files, no rows.
    """
    from videossr.data.generation import read_rows

    files = data_files(path)
    rows = []
    counts = {}
    for file in files:
        file_rows = read_rows(file)
        name = file.relative_to(path).with_suffix("").as_posix() if file != Path(path) else file.stem
        counts[f"{name}.parquet"] = len(file_rows)
        rows.extend({**row, "_file": name} for row in file_rows)
    if not rows:
        raise ConfigError(f"{path} holds no rows")
    listing = ", ".join(f"{esc(name)} ({n})" for name, n in counts.items())
    grid, shown = sample_grid(rows, per_group, seed)
    body = (
        f"<h1>Data: {esc(Path(path).name)}</h1><p class=note>{len(rows)} rows from {len(files)} file(s): {listing}</p>"
        f"<h2>Distributions</h2>{distributions(rows)}"
        f'<section class="gallery"><h2>Samples</h2><p class=note>A seeded sample (seed {seed}): {per_group} rows per '
        "task and variant (all of a smaller group). Frames in the order the model sees them, with their time on "
        "the model's clock; red = perturbed span, yellow = drawn shapes, one block per clip (jigsaw).</p>"
        f"{filter_bar([], shown, outcome_filters=False)}{grid}</section>"
    )
    return page(f"Data: {Path(path).name}", body), shown
