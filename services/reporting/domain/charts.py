"""Charts as inline SVG, drawn server-side (no JavaScript needed): horizontal bars with their values."""

from __future__ import annotations

from html import escape
from typing import Any

PALETTE = ("#1f5f8b", "#2a9d8f", "#e9a03b", "#c8553d", "#6d597a", "#588157", "#8d99ae", "#b5838d")


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def bar_chart(chart: dict[str, Any], *, width: int = 520, slug: str = "chart") -> str:
    series = [(str(s["label"]), float(s["value"])) for s in chart["series"]]
    title = escape(chart["title"])
    unit = escape(chart.get("unit", ""))
    if not series:
        return (
            f'<figure class="chart" data-chart="{escape(slug)}"><figcaption>{title}</figcaption>'
            "<p>No data.</p></figure>"
        )
    bar_h, gap, label_w, value_w = 22, 6, 150, 80
    height = len(series) * (bar_h + gap) + gap
    top = max(v for _, v in series) or 1.0
    plot_w = width - label_w - value_w
    rows = []
    for i, (label, value) in enumerate(series):
        y = gap + i * (bar_h + gap)
        w = max(1.0, plot_w * value / top) if value > 0 else 0
        colour = PALETTE[i % len(PALETTE)]
        rows.append(
            f'<g class="bar" data-label="{escape(label)}" data-value="{value:g}">'
            f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{escape(label[:24])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}" rx="2"><title>'
            f"{escape(label)}: {_fmt(value)} {unit}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{_fmt(value)}</text></g>'
        )
    return (
        f'<figure class="chart" data-chart="{escape(slug)}"><figcaption>{title} <small>({unit})</small></figcaption>'
        f'<svg role="img" aria-label="{title}" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" font-size="12" font-family="system-ui, sans-serif">'
        f"<title>{title}</title>{''.join(rows)}</svg></figure>"
    )
