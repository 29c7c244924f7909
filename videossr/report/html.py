"""HTML building blocks of the offline reports: escaping, inline images, small SVG plots, the page.

Everything a report needs travels inside the one file: CSS and the script are inlined, images are
``data:`` URIs, plots are SVG written here (no plotting library, no CDN, no web font). Every
string that came from a user or a model goes through :func:`esc` before it enters the page, and
no such string is ever placed inside the ``<script>`` element: the script reads only ``data-*``
attributes that this module writes, so a response holding ``</script>`` or ``<img onerror=...>``
is shown as text and cannot run.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence

import cv2
import numpy as np

SHEET_WIDTH_PX = 800  # contact sheets are shrunk to this width: labels stay readable, ~60-110 KB each
JPEG_QUALITY = 60

PALETTE = ("#4878d0", "#ee854a", "#6acc64", "#d65f5f", "#956cb4", "#8c613c", "#dc7ec0", "#797979")
REFERENCE_COLOR = "#b0b0b0"


def esc(value: object) -> str:
    """``value`` as text safe in HTML element content and in quoted attributes."""
    return html.escape(str(value), quote=True)


def anchor_id(*parts: str) -> str:
    """An HTML id made of ``parts``: characters other than letters, digits, ``_`` and ``-`` become
    ``-``, so any item id (slashes, spaces, quotes) gives a valid, stable fragment."""
    return "-".join(re.sub(r"[^A-Za-z0-9_-]", "-", str(p)) for p in parts)


def jpeg_data_uri(image_bgr: np.ndarray, max_width_px: int = SHEET_WIDTH_PX, quality: int = JPEG_QUALITY) -> str:
    """A ``data:image/jpeg;base64,...`` URI of a BGR image, shrunk to at most ``max_width_px`` wide."""
    if image_bgr.shape[1] > max_width_px:
        height = max(1, round(image_bgr.shape[0] * max_width_px / image_bgr.shape[1]))
        image_bgr = cv2.resize(image_bgr, (max_width_px, height), interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # cv2 fails only on an empty or malformed array: our bug
        raise ValueError(f"cannot encode an image of shape {image_bgr.shape} as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buffer.tobytes()).decode("ascii")


def png_data_uri(png_bytes: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


# ----------------------------------------------------------------------------- SVG plots


def svg_hbars(
    bars: Sequence[tuple[str, float, str]],
    *,
    max_value: float | None = None,
    unit: str = "",
    width_px: int = 560,
    value_format: str = "{:.1f}",
) -> str:
    """Horizontal bars ``(label, value, colour)``, one per line, value printed at the bar's end.

    ``max_value`` fixes the scale (100 for percentages, so two plots compare); default: the
    largest value (an all-zero plot draws empty bars).
    """
    label_w, row_h, value_w = 190, 20, 56
    top = max_value if max_value is not None else max((v for _, v, _ in bars), default=0.0)
    scale = (width_px - label_w - value_w) / top if top > 0 else 0.0
    rows = []
    for k, (label, value, color) in enumerate(bars):
        y = k * row_h
        bar_w = max(0.0, value) * scale
        rows.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{esc(label[:32])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w:.1f}" height="{row_h - 6}" fill="{color}"/>'
            f'<text x="{label_w + bar_w + 4:.1f}" y="{y + 14}">{value_format.format(value)}{esc(unit)}</text>'
        )
    height = max(1, len(bars)) * row_h
    return (
        f'<svg class="plot" width="{width_px}" height="{height}" viewBox="0 0 {width_px} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="12">{"".join(rows)}</svg>'
    )


def svg_columns(
    labels: Sequence[str],
    counts: Sequence[float],
    *,
    color: str = PALETTE[0],
    title: str = "",
    width_px: int = 360,
    height_px: int = 150,
) -> str:
    """A column chart (a histogram when ``labels`` are bins); each column's count printed above it."""
    n = max(1, len(counts))
    top = max(counts, default=0) or 1
    pad_top, pad_bottom = 30 if title else 16, 30
    plot_h = height_px - pad_top - pad_bottom
    col_w = (width_px - 10) / n
    parts = (
        [f'<text x="{width_px / 2}" y="14" text-anchor="middle" font-weight="bold">{esc(title)}</text>']
        if title
        else []
    )
    for k, (label, count) in enumerate(zip(labels, counts)):
        h = plot_h * count / top
        x = 5 + k * col_w
        y = pad_top + plot_h - h
        count_text = f"{count:g}" if isinstance(count, float) else str(count)
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(1.0, col_w - 2):.1f}" height="{h:.1f}" fill="{color}"/>'
            f'<text x="{x + col_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">{count_text}</text>'
            f'<text x="{x + col_w / 2:.1f}" y="{height_px - 16}" text-anchor="middle">{esc(label)}</text>'
        )
    return (
        f'<svg class="plot" width="{width_px}" height="{height_px}" viewBox="0 0 {width_px} {height_px}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="10">{"".join(parts)}</svg>'
    )


def svg_lines(
    series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]],
    *,
    title: str = "",
    x_label: str = "step",
    width_px: int = 420,
    height_px: int = 220,
) -> str:
    """A line chart of ``(label, colour, [(x, y), ...])`` series on shared axes, with a legend.

    Non-finite points are left out (a gap, not a zero); a series of one point is a dot. Each point
    carries a ``<title>`` (label, x, y) shown on hover, and ``data-series`` / ``data-points``
    attributes (the number of points) that tests read. The y axis spans the data's range (a flat
    series gets +-1 around its value); both axes print their end values. ``height_px`` is the
    chart's without its legend (14 px a series).
    """
    clean = [(label, color, [(float(x), float(y)) for x, y in pts if np.isfinite(x) and np.isfinite(y)])
             for label, color, pts in series]  # fmt: skip
    xs = [x for _, _, pts in clean for x, _ in pts]
    ys = [y for _, _, pts in clean for _, y in pts]
    left, right, top, bottom = 52, 10, 26 if title else 10, 34 + 14 * len(clean)
    height_px += 14 * len(clean)  # the legend adds to the chart's height, not to its plot's expense
    plot_w, plot_h = width_px - left - right, height_px - top - bottom
    parts = (
        [f'<text x="{width_px / 2}" y="16" text-anchor="middle" font-weight="bold">{esc(title)}</text>']
        if title
        else []
    )
    if xs:
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x0, x1 = x0 - 1, x1 + 1
        if y1 == y0:
            y0, y1 = y0 - 1, y1 + 1

        def at(x: float, y: float) -> tuple[float, float]:
            return left + plot_w * (x - x0) / (x1 - x0), top + plot_h * (1 - (y - y0) / (y1 - y0))

        parts.append(
            f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>'
            f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{y1:.4g}</text>'
            f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">{y0:.4g}</text>'
            f'<text x="{left}" y="{top + plot_h + 12}" text-anchor="middle">{x0:g}</text>'
            f'<text x="{left + plot_w}" y="{top + plot_h + 12}" text-anchor="middle">{x1:g}</text>'
            f'<text x="{left + plot_w / 2}" y="{top + plot_h + 12}" text-anchor="middle">{esc(x_label)}</text>'
        )
        for label, color, pts in clean:
            points = [at(x, y) for x, y in sorted(pts)]
            body = "".join(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{color}"><title>{esc(label)}: {x:g}, {y:.6g}'
                "</title></circle>"
                for (px, py), (x, y) in zip(points, sorted(pts))
            )
            if len(points) > 1:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
                body = f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>' + body
            parts.append(f'<g data-series="{esc(label)}" data-points="{len(points)}">{body}</g>')
    else:
        parts.append(f'<text x="{width_px / 2}" y="{top + plot_h / 2}" text-anchor="middle">no data</text>')
    for k, (label, color, _) in enumerate(clean):
        y = height_px - bottom + 30 + 14 * k
        parts.append(
            f'<rect x="{left}" y="{y - 8}" width="10" height="3" fill="{color}"/>'
            f'<text x="{left + 14}" y="{y - 4}">{esc(label)}</text>'
        )
    return (
        f'<svg class="plot" width="{width_px}" height="{height_px}" viewBox="0 0 {width_px} {height_px}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="10">{"".join(parts)}</svg>'
    )


def svg_heatmap(
    matrix: Sequence[Sequence[float]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    title: str = "",
    cell_px: int = 28,
) -> str:
    """A grid of counts shaded by value (white = 0, dark blue = the largest), each count printed."""
    top = max((v for row in matrix for v in row), default=0) or 1
    left, head = 64, 34 if title else 18
    width = max(left + cell_px * len(col_labels) + 4, 8 + 6 * len(title))  # room for the title
    height = head + cell_px * len(row_labels) + 4
    parts = [f'<text x="4" y="12" font-weight="bold">{esc(title)}</text>'] if title else []
    for c, label in enumerate(col_labels):
        parts.append(
            f'<text x="{left + c * cell_px + cell_px / 2}" y="{head - 4}" text-anchor="middle">{esc(label)}</text>'
        )
    for r, (label, row) in enumerate(zip(row_labels, matrix)):
        y = head + r * cell_px
        parts.append(f'<text x="{left - 4}" y="{y + cell_px / 2 + 4}" text-anchor="end">{esc(label)}</text>')
        for c, value in enumerate(row):
            shade = value / top
            fill = f"rgb({round(255 - 183 * shade)},{round(255 - 135 * shade)},{round(255 - 47 * shade)})"
            ink = "#fff" if shade > 0.6 else "#000"
            parts.append(
                f'<rect x="{left + c * cell_px}" y="{y}" width="{cell_px - 1}" height="{cell_px - 1}" fill="{fill}"/>'
                f'<text class="heat-cell" x="{left + c * cell_px + cell_px / 2}" y="{y + cell_px / 2 + 4}" '
                f'text-anchor="middle" fill="{ink}">{value:g}</text>'
            )
    return (
        f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="10">{"".join(parts)}</svg>'
    )


def bar_cell(value: float, text: str, cell_id: str = "", color: str = PALETTE[0]) -> str:
    """A table cell (percent ``value``) whose background is a bar of that length: gaps show at a glance."""
    width = min(100.0, max(0.0, value))
    ident = f' id="{esc(cell_id)}"' if cell_id else ""
    return (
        f'<td class="num"{ident} data-value="{value:.4f}" style="background:linear-gradient(90deg,{color}55 '
        f'{width:.1f}%,transparent {width:.1f}%)">{esc(text)}</td>'
    )


# ----------------------------------------------------------------------------- the page

CSS = """
body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:0 24px 40px;color:#222;font-size:14px}
h1{font-size:22px;margin:18px 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}
h3{font-size:15px;margin:18px 0 6px} .note{color:#666;font-size:12px}
table{border-collapse:collapse;margin:6px 0} th,td{border:1px solid #ddd;padding:3px 7px}
th{background:#f3f3f3;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums;min-width:46px}
tr.ref td{color:#666;font-style:italic} .plot{display:inline-block;margin:4px 12px 4px 0;vertical-align:top}
.filters{position:sticky;top:0;background:#fafafa;border:1px solid #ddd;padding:6px 10px;z-index:2;margin:8px 0}
.filters label{margin-right:14px}
.item{border:1px solid #ccc;border-radius:4px;margin:10px 0;padding:8px;background:#fff}
.item img{max-width:100%;display:block;margin:6px 0}
.item pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:12px;max-height:8em;overflow:auto}
.item .q{font-size:12px;color:#333;white-space:pre-wrap;max-height:6em;overflow:auto}
.status-ok{color:#2a7a2a} .status-unparsed,.status-error,.status-missing{color:#b02020;font-weight:bold}
.hidden{display:none} a.anchor{font-family:monospace;font-size:12px}
.noimg{background:#444;color:#eee;padding:18px;font-size:12px}
pre.summary{white-space:pre-wrap;margin:4px 0;font-size:13px}
"""

# The script reads only data-* attributes written by this module (numbers and run keys), never
# text from a model, so nothing a model says can reach it.
SCRIPT = """
(function(){
  function apply(section){
    var f = function(c){ return section.querySelector('.' + c); };
    var wrong = !!(f('f-wrong') && f('f-wrong').checked), unparsed = !!(f('f-unparsed') && f('f-unparsed').checked);
    var a = f('f-a') ? f('f-a').value : '', b = f('f-b') ? f('f-b').value : '';
    var cmp = f('f-cmp') ? f('f-cmp').value : 'any';
    var items = section.querySelectorAll('.item'), shown = 0;
    for (var i = 0; i < items.length; i++) {
      var it = items[i], ok = true;
      if (wrong && it.getAttribute('data-wrong') !== '1') ok = false;
      if (unparsed && it.getAttribute('data-unparsed') !== '1') ok = false;
      if (ok && cmp !== 'any' && a && b) {
        var sa = parseFloat(it.getAttribute('data-s-' + a)), sb = parseFloat(it.getAttribute('data-s-' + b));
        if (cmp === 'a-better' && !(sa > sb)) ok = false;
        if (cmp === 'b-better' && !(sb > sa)) ok = false;
        if (cmp === 'differ' && !(sa !== sb)) ok = false;
      }
      it.classList.toggle('hidden', !ok);
      if (ok) shown++;
    }
    f('shown-count').textContent = String(shown);
    var groups = section.querySelectorAll('.group');  // a heading whose items are all filtered out goes too
    for (var g = 0; g < groups.length; g++)
      groups[g].classList.toggle('hidden', !groups[g].querySelector('.item:not(.hidden)'));
  }
  // Filters can be preset from the address (report.html?wrong=1&a=r0&b=r1&cmp=a-better): a link
  // to a filtered view can be shared, and a headless browser can check the filters without clicks.
  var params = new URLSearchParams(window.location.search);
  function preset(section){
    var set = function(c, key, isBox){
      var el = section.querySelector('.' + c), v = params.get(key);
      if (!el || v === null) return;
      if (isBox) el.checked = (v === '1'); else el.value = v;
    };
    set('f-wrong', 'wrong', true); set('f-unparsed', 'unparsed', true);
    set('f-a', 'a', false); set('f-b', 'b', false); set('f-cmp', 'cmp', false);
  }
  var sections = document.querySelectorAll('.gallery');
  for (var s = 0; s < sections.length; s++) {
    (function(section){
      preset(section);
      var inputs = section.querySelectorAll('.filters input, .filters select');
      for (var k = 0; k < inputs.length; k++) inputs[k].addEventListener('change', function(){ apply(section); });
      apply(section);
    })(sections[s]);
  }
  document.body.setAttribute('data-ready', '1');
})();
"""


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML document: ``body`` (already escaped HTML) plus CSS and script."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # No network at all, even if someone adds a URL later: the page may open on an air-gapped
        # cluster or from an e-mail; data: images and inline code are all it may load.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
        f"<script>{SCRIPT}</script>\n</body></html>\n"
    )


def filter_bar(run_keys: Sequence[tuple[str, str]], total: int, *, outcome_filters: bool = True) -> str:
    """The filters of one gallery: wrong only, unparsed only and, with two runs or more, A against B.

    ``run_keys`` are ``(key, label)`` pairs; keys name the ``data-s-<key>`` score attributes.
    Without ``outcome_filters`` (a data file has no answers) only the shown-items count remains.
    """
    parts = ['<div class="filters">']
    if outcome_filters:
        parts += [
            '<label><input type="checkbox" class="f-wrong"> wrong only</label>',
            '<label><input type="checkbox" class="f-unparsed"> unparsed / failed only</label>',
        ]
    if len(run_keys) >= 2:
        options = "".join(f'<option value="{esc(k)}">{esc(label)}</option>' for k, label in run_keys)
        second = "".join(
            f'<option value="{esc(k)}"{" selected" if n == 1 else ""}>{esc(label)}</option>'
            for n, (k, label) in enumerate(run_keys)
        )
        parts.append(
            f'<label>A <select class="f-a">{options}</select></label>'
            f'<label>B <select class="f-b">{second}</select></label>'
            '<label><select class="f-cmp"><option value="any">all items</option>'
            '<option value="a-better">A scores higher than B</option>'
            '<option value="b-better">B scores higher than A</option>'
            '<option value="differ">A and B differ</option></select></label>'
        )
    parts.append(f'<span><b class="shown-count">{total}</b> of {total} items shown</span></div>')
    return "".join(parts)
