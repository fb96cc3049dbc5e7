"""Tiny inline-SVG charts, so a report is one self-contained HTML file (no matplotlib, no network).

Each function returns an `<svg>` string sized in CSS pixels. Labels are escaped; numbers are
formatted compactly. Only what the reports need: histograms, horizontal bars, line plots.
"""
from __future__ import annotations

import html
import math
from typing import Sequence

PALETTE = ("#3b6ea5", "#e07b39", "#4f9d69", "#c94f5a", "#8a6bbe", "#b08d3c", "#3fa7b5", "#888888")
FONT = "font-family='system-ui,-apple-system,Segoe UI,Noto Sans CJK SC,WenQuanYi Micro Hei,sans-serif'"


def fmt(value: float) -> str:
    """1234567 → 1.2M, 0.1234 → 0.123: short tick and bar labels."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    a = abs(value)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div * 10 or (a >= div and suffix != "k"):
            return f"{value / div:.3g}{suffix}"
    if a >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _open(width: int, height: int, title: str) -> list[str]:
    return [f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' role='img' aria-label='{_esc(title)}' {FONT} font-size='11'>",
            f"<title>{_esc(title)}</title>"]


def histogram_bins(values: Sequence[float], bins: int = 30, log: bool = False,
                   clip: float = 0.0) -> tuple[list[float], list[int]]:
    """Bin edges (len bins+1) and counts; log bins for heavy-tailed counts (values ≤ 0 go to the first bin).

    With `clip` (linear bins only), the bins span the [clip, 1-clip] quantiles and values beyond
    fall into the first or last bin.
    """
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return [0.0, 1.0], [0]
    lo, hi = min(vals), max(vals)
    if log:
        pos = [v for v in vals if v > 0]
        lo_l = math.log10(min(pos)) if pos else 0.0
        hi_l = math.log10(max(pos)) if pos else 1.0
        if hi_l - lo_l < 1e-9:
            hi_l = lo_l + 1
        edges = [10 ** (lo_l + (hi_l - lo_l) * i / bins) for i in range(bins + 1)]
        span = hi_l - lo_l
        counts = [0] * bins
        for v in vals:
            k = 0 if v <= 0 else int((math.log10(v) - lo_l) / span * bins)
            counts[min(max(k, 0), bins - 1)] += 1
        return edges, counts
    if clip:  # outliers would squeeze the bulk into one bar: bin the central range, pile the tails at the ends
        ordered = sorted(vals)
        lo = ordered[int(clip * (len(ordered) - 1))]
        hi = ordered[int((1 - clip) * (len(ordered) - 1))]
    if hi - lo < 1e-12:
        hi = lo + 1
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    counts = [0] * bins
    for v in vals:
        counts[min(max(int((v - lo) / (hi - lo) * bins), 0), bins - 1)] += 1
    return edges, counts


def histogram(values: Sequence[float], title: str, bins: int = 30, log: bool = False,
              width: int = 360, height: int = 190, color: str = PALETTE[0], clip: float = 0.005) -> str:
    """A histogram of `values`; x ticks at both ends and the middle edge; linear ones clipped at 0.5/99.5 %."""
    clip = 0.0 if log else clip
    edges, counts = histogram_bins(values, bins, log, clip)
    left, right, top, bottom = 44, 10, 22, 34
    pw, ph = width - left - right, height - top - bottom
    peak = max(counts) or 1
    out = _open(width, height, title)
    out.append(f"<text x='{left}' y='14' font-weight='600'>{_esc(title)}</text>")
    bw = pw / len(counts)
    for i, c in enumerate(counts):
        if not c:
            continue
        h = ph * c / peak
        lo, hi = edges[i], edges[i + 1]
        out.append(f"<rect x='{left + i * bw:.1f}' y='{top + ph - h:.1f}' width='{max(bw - 1, 1):.1f}' height='{h:.1f}' "
                   f"fill='{color}'><title>{fmt(lo)}–{fmt(hi)}: {c:,}</title></rect>")
    out.append(_axes(left, top, pw, ph))
    out.append(f"<text x='{left - 4}' y='{top + 8}' text-anchor='end'>{fmt(peak)}</text>")
    out.append(f"<text x='{left - 4}' y='{top + ph}' text-anchor='end'>0</text>")
    for frac, edge in ((0, edges[0]), (0.5, edges[len(edges) // 2]), (1, edges[-1])):
        anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
        out.append(f"<text x='{left + pw * frac:.1f}' y='{top + ph + 14}' text-anchor='{anchor}'>{fmt(edge)}</text>")
    if log:
        out.append(f"<text x='{left + pw}' y='{height - 4}' text-anchor='end' fill='#777'>log scale</text>")
    elif clip and values:
        out.append(f"<text x='{left + pw}' y='{height - 4}' text-anchor='end' fill='#777'>"
                   f"0.5–99.5 % range; tails in end bars</text>")
    out.append("</svg>")
    return "".join(out)


def _axes(left: float, top: float, pw: float, ph: float) -> str:
    return (f"<line x1='{left}' y1='{top + ph}' x2='{left + pw}' y2='{top + ph}' stroke='#444'/>"
            f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + ph}' stroke='#444'/>")


def hbars(items: Sequence[tuple[str, float]], title: str, width: int = 560, value_fmt=fmt,
          colors: Sequence[str] | None = None, max_value: float | None = None) -> str:
    """Horizontal bars, one per (label, value), value printed at the bar's end."""
    row = 20
    label_w = min(220, 12 + 7 * max((len(str(k)) for k, _ in items), default=4))
    top = 24
    height = top + row * max(len(items), 1) + 8
    pw = width - label_w - 80
    peak = max_value or max((v for _, v in items), default=0) or 1
    out = _open(width, height, title)
    out.append(f"<text x='4' y='14' font-weight='600'>{_esc(title)}</text>")
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = max(pw * (value or 0) / peak, 0)
        color = (colors[i % len(colors)] if colors else PALETTE[0])
        short = str(label) if len(str(label)) <= 30 else str(label)[:29] + "…"
        out.append(f"<text x='{label_w - 6}' y='{y + 14}' text-anchor='end'>{_esc(short)}</text>")
        out.append(f"<rect x='{label_w}' y='{y + 3}' width='{w:.1f}' height='{row - 6}' fill='{color}'>"
                   f"<title>{_esc(label)}: {_esc(value_fmt(value))}</title></rect>")
        out.append(f"<text x='{label_w + w + 4:.1f}' y='{y + 14}'>{_esc(value_fmt(value))}</text>")
    out.append("</svg>")
    return "".join(out)


def lines(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], title: str, x_label: str = "",
          y_label: str = "", width: int = 420, height: int = 240, y_range: tuple[float, float] | None = None,
          x_log: bool = False, marks: Sequence[tuple[float, str]] = (), points: bool = True) -> str:
    """Line plot of named (xs, ys) series; `marks` are vertical reference lines (x, label)."""
    left, right, top, bottom = 48, 12, 24, 38
    pw, ph = width - left - right, height - top - bottom
    xs_all = [x for _, xs, _ in series for x in xs if x is not None]
    ys_all = [y for _, _, ys in series for y in ys if y is not None]
    if x_log:
        xs_all = [x for x in xs_all if x > 0]
    if not xs_all or not ys_all:
        return _open(width, 40, title)[0] + f"<text x='4' y='20'>{_esc(title)}: no data</text></svg>"
    tx = (lambda v: math.log10(v)) if x_log else (lambda v: v)
    x0, x1 = tx(min(xs_all)), tx(max(xs_all))
    if x1 - x0 < 1e-12:
        x1 = x0 + 1
    y0, y1 = y_range or (min(ys_all), max(ys_all))
    if y1 - y0 < 1e-12:
        y1 = y0 + 1

    def px(x: float) -> float:
        return left + pw * (tx(x) - x0) / (x1 - x0)

    def py(y: float) -> float:
        return top + ph - ph * (y - y0) / (y1 - y0)

    out = _open(width, height, title)
    out.append(f"<text x='{left}' y='14' font-weight='600'>{_esc(title)}</text>")
    for frac in (0, 0.5, 1):
        yv = y0 + (y1 - y0) * frac
        out.append(f"<line x1='{left}' y1='{py(yv):.1f}' x2='{left + pw}' y2='{py(yv):.1f}' stroke='#e4e4e4'/>")
        out.append(f"<text x='{left - 4}' y='{py(yv) + 4:.1f}' text-anchor='end'>{fmt(yv)}</text>")
    out.append(_axes(left, top, pw, ph))
    for frac in (0, 0.5, 1):
        xv = x0 + (x1 - x0) * frac
        xv = 10 ** xv if x_log else xv
        anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
        out.append(f"<text x='{left + pw * frac:.1f}' y='{top + ph + 14}' text-anchor='{anchor}'>{fmt(xv)}</text>")
    if x_label:
        out.append(f"<text x='{left + pw / 2:.1f}' y='{height - 4}' text-anchor='middle' fill='#555'>{_esc(x_label)}</text>")
    if y_label:
        out.append(f"<text x='10' y='{top + ph / 2:.1f}' transform='rotate(-90 10 {top + ph / 2:.1f})' "
                   f"text-anchor='middle' fill='#555'>{_esc(y_label)}</text>")
    for k, (x, label) in enumerate(marks):
        if x is None or (x_log and x <= 0):
            continue
        xp = min(max(px(x), left), left + pw)
        color = ("#c94f5a", "#2a7a3a", "#8a6bbe")[k % 3]
        anchor, dx = ("end", -3) if xp > left + pw * 0.75 else ("start", 3)
        out.append(f"<line x1='{xp:.1f}' y1='{top}' x2='{xp:.1f}' y2='{top + ph}' stroke='{color}' stroke-dasharray='4 3'/>")
        out.append(f"<text x='{xp + dx:.1f}' y='{top + 10 + 12 * k}' fill='{color}' text-anchor='{anchor}'>"
                   f"{_esc(label)}</text>")
    for i, (name, xs, ys) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = [(px(x), py(y)) for x, y in zip(xs, ys) if x is not None and y is not None and (not x_log or x > 0)]
        if not pts:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        out.append(f"<polyline points='{path}' fill='none' stroke='{color}' stroke-width='2'/>")
        if points:
            for (x, y), xv, yv in zip(pts, xs, ys):
                out.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2.5' fill='{color}'><title>{_esc(name)}: "
                           f"{fmt(xv)} → {fmt(yv)}</title></circle>")
    if len(series) > 1:
        for i, (name, _, _) in enumerate(series):
            y = top + 12 + i * 14
            out.append(f"<rect x='{left + pw - 110}' y='{y - 8}' width='10' height='10' fill='{PALETTE[i % len(PALETTE)]}'/>"
                       f"<text x='{left + pw - 96}' y='{y + 1}'>{_esc(name)}</text>")
    out.append("</svg>")
    return "".join(out)
