"""Charts as inline SVG, drawn server-side (no JavaScript needed): horizontal bars with their values for categories,
columns on a real time axis (a month per step, empty months kept) for monthly series.

Each SVG is drawn at its natural size (its width attribute is its viewBox width) and only ever shrinks to fit a narrow
panel (`max-width: 100%`): a chart is never scaled up past the size its text was set for."""

from __future__ import annotations

import re
from datetime import date
from html import escape
from typing import Any

from markupsafe import Markup

BAR = "#1f5f8b"  # one colour: a bar's length is its value, colour says nothing more
GRID = "#c5d0dc"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


LABEL_CHARS = 34


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _series(chart: dict[str, Any]) -> list[tuple[str, float]]:
    return [(str(s["label"]), float(s["value"])) for s in chart["series"]]


def _figure(slug: str, title: str, unit: str, svg: str, kind: str) -> Markup:
    unit_text = f" <small>({unit})</small>" if unit else ""
    # every piece is escaped above (labels, titles, units) or numbers this module formats
    return Markup(  # noqa: S704
        f'<figure class="chart" data-chart="{escape(slug)}" data-kind="{kind}">'
        f"<figcaption>{title}{unit_text}</figcaption>{svg}</figure>"
    )


def _svg(title: str, width: int, height: int, inner: str) -> str:
    return (
        f'<svg role="img" aria-label="{title}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'style="max-width:100%;height:auto" font-size="12" font-family="system-ui, sans-serif">'
        f"<title>{title}</title>{inner}</svg>"
    )


def chart(chart: dict[str, Any], *, slug: str = "chart") -> Markup:
    """A monthly series (every label YYYY-MM) on a time axis, anything else as bars."""
    labels = [str(s["label"]) for s in chart["series"]]
    if len(labels) >= 2 and all(MONTH.match(label) for label in labels):
        return time_series_chart(chart, slug=slug)
    return bar_chart(chart, slug=slug)


def bar_chart(chart: dict[str, Any], *, width: int = 520, slug: str = "chart") -> Markup:
    series = _series(chart)
    title = escape(chart["title"])
    unit = escape(chart.get("unit", ""))
    if not series:
        return _figure(slug, title, unit, "<p>No data.</p>", "bars")
    bar_h, gap, value_w = 22, 6, 80
    # room for the longest label (about 7 px a character at 12 px), the plot keeps its width
    label_w = min(260, max(60, 7 * max(len(label[:LABEL_CHARS]) for label, _ in series) + 12))
    plot_w = width - 150 - value_w
    width = label_w + plot_w + value_w
    height = len(series) * (bar_h + gap) + gap
    top = max(v for _, v in series) or 1.0
    rows = []
    for i, (label, value) in enumerate(series):
        y = gap + i * (bar_h + gap)
        w = max(1.0, plot_w * value / top) if value > 0 else 0
        rows.append(
            f'<g class="bar" data-label="{escape(label)}" data-value="{value:g}">'
            f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{escape(_short(label))}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{BAR}" rx="2"><title>'
            f"{escape(label)}: {_fmt(value)} {unit}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{_fmt(value)}</text></g>'
        )
    return _figure(slug, title, unit, _svg(title, width, height, "".join(rows)), "bars")


def _months(first: date, last: date) -> list[date]:
    out = []
    current = first
    while current <= last:
        out.append(current)
        current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return out


def _nice_top(value: float) -> float:
    """The axis maximum: 1, 2 or 5 times a power of ten, at or above `value`."""
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 5, 10):
        if factor * step >= value:
            return float(factor * step)
    return float(10 * step)


def _tick(month: date, index: int, count: int) -> str:
    """The axis label under a month, if any: every month of a short series (the year at the first and at each
    January), every quarter of a middling one, the years of a long one."""
    if count <= 12:
        return month.strftime("%Y-%m") if index == 0 or month.month == 1 else month.strftime("%m")
    if count <= 36:
        return month.strftime("%Y-%m") if month.month in (1, 4, 7, 10) else ""
    return str(month.year) if month.month == 1 else ""


def time_series_chart(chart: dict[str, Any], *, width: int = 720, slug: str = "chart") -> Markup:
    """Monthly values as columns on a time axis from the first month to the last; months without a value are
    drawn empty (zero), so the distance between two columns is the time between them; month, quarter or year ticks."""
    given = {label: value for label, value in _series(chart)}
    title = escape(chart["title"])
    unit = escape(chart.get("unit", ""))
    parsed = sorted(date.fromisoformat(f"{label}-01") for label in given)
    months = _months(parsed[0], parsed[-1])
    left, right, top, bottom, height = 48, 12, 12, 34, 240
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / len(months)
    axis_top = _nice_top(max(given.values()))
    parts = []
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(axis_top * fraction)}</text>'
        )
    for i, month in enumerate(months):
        label = month.strftime("%Y-%m")
        value = given.get(label, 0.0)
        x = left + i * step
        h = plot_h * value / axis_top
        parts.append(
            f'<g class="point" data-month="{label}" data-value="{value:g}">'
            f'<rect x="{x + step * 0.1:.1f}" y="{top + plot_h - h:.1f}" width="{max(1.0, step * 0.8):.1f}" '
            f'height="{h:.1f}" fill="{BAR}"><title>{label}: {_fmt(value)} {unit}</title></rect></g>'
        )
        tick = _tick(month, i, len(months))
        if tick:
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 5}" stroke="#14213d"/>'
                f'<text x="{x + 2:.1f}" y="{top + plot_h + 18}">{tick}</text>'
            )
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#14213d"/>')
    return _figure(slug, title, unit, _svg(title, width, height, "".join(parts)), "time")
