"""Dashboard charts (domain/charts.py): monthly series on a time axis with empty months kept, everything drawn at its
natural size (never scaled up to its panel), in one colour."""

from __future__ import annotations

import itertools
import re

from services.reporting.domain.charts import bar_chart, chart


def test_a_monthly_series_is_drawn_on_a_time_axis_with_its_empty_months() -> None:
    svg = chart(
        {"title": "Placed per month", "series": [{"label": "2025-11", "value": 4}, {"label": "2026-02", "value": 2}]}
    )
    assert 'data-kind="time"' in svg
    months = re.findall(r'data-month="([\d-]+)" data-value="([\d.]+)"', svg)
    assert months == [("2025-11", "4"), ("2025-12", "0"), ("2026-01", "0"), ("2026-02", "2")]
    xs = [float(x) for x in re.findall(r'<g class="point"[^>]*><rect x="([\d.]+)"', svg)]
    gaps = {round(b - a, 3) for a, b in itertools.pairwise(xs)}
    assert len(gaps) == 1  # evenly spaced months: distance is time
    ticks = re.findall(r'<text x="[\d.]+" y="\d+">([\d-]+)</text>', svg)
    assert ticks == ["2025-11", "12", "2026-01", "02"]  # every month of a short series, a new year in full


def test_categories_are_bars_in_one_colour() -> None:
    svg = chart({"title": "By stage", "series": [{"label": s, "value": i + 1} for i, s in enumerate("abcde")]})
    assert 'data-kind="bars"' in svg
    assert len(set(re.findall(r'fill="(#[0-9a-f]{6})"', svg))) == 1


def test_a_chart_is_drawn_at_its_natural_size_and_only_shrinks() -> None:
    svg = bar_chart({"title": "By stage", "series": [{"label": "a", "value": 3}]})
    view_width, _ = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).groups()  # type: ignore[union-attr]
    assert f'width="{view_width}"' in svg  # drawn at the size its 12 px text was set for
    assert "max-width:100%" in svg
    assert 'width="100%"' not in svg


def test_long_labels_get_the_room_they_need() -> None:
    label = "VX-H10 LFP home storage 10.24 kWh"
    svg = bar_chart({"title": "By model", "series": [{"label": label, "value": 3}, {"label": "a", "value": 1}]})
    assert f">{label}</text>" in svg
    anchor = float(re.search(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="end">', svg).group(1))  # type: ignore[union-attr]
    assert anchor >= 7 * len(label)  # the label, right-aligned at the plot, starts inside the chart
