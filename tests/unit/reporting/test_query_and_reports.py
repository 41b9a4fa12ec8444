"""Search SQL, grouping, cursors and the standard reports (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.errors import ValidationFailed
from services.reporting.domain import query, reports
from services.reporting.domain.charts import bar_chart
from services.reporting.domain.query import Filters
from services.reporting.domain.reports import CubeRow
from services.reporting.exports.formats import rows_to_csv

RC = tuple(Decimal(x) for x in (4, 8, 3, 0, 5, 10, 4, 0, 0))


def cube() -> list[CubeRow]:
    return [
        CubeRow(
            "ev", "NMC811", "VX-400", "vx-400", "GLN 1", "original", "in_service", 60, 60, tuple(x * 60 for x in RC)
        ),
        CubeRow("ev", "LFP", "VX-250", "vx-250", "GLN 1", "waste", "collected", 15, 15, tuple(x * 15 for x in RC)),
        CubeRow("lmt", "LFP", "VX-S48", "vx-s48", "GLN 2", "original", "manufactured", 25, 0, (Decimal(0),) * 9),
    ]


def test_search_sql_binds_every_value_and_pages_by_passport_id() -> None:
    filters = Filters(tenant="acme", equals={"chemistry": "LFP", "stage": "collected"}, extensions={"colour": "blue"})
    sql, params = query.search_sql(filters, "urn:uuid:1", 50)
    assert "LFP" not in sql
    assert "blue" not in sql
    assert params == [
        "acme",
        "LFP",
        "collected",
        ["chemistry=LFP", "stage=collected"],
        {"colour": "blue"},
        "urn:uuid:1",
        51,
    ]
    assert "chemistry = $2 AND stage = $3 AND passport_tags(" in sql
    assert sql.endswith("ORDER BY passport_id LIMIT $7")
    _, params = query.search_sql(Filters(tenant="acme", equals={"batch": "B1", "model": "M"}), None, 50)
    assert params == ["acme", "B1", "M", 51]  # no tags: batch and model have btrees of their own


def test_counts_use_the_counters_only_for_cube_dimensions() -> None:
    _, _, from_cube = query.count_sql(Filters(tenant="a", equals={"chemistry": "LFP"}), ["stage"])
    assert from_cube
    _, _, scan = query.count_sql(Filters(tenant="a"), ["batch"])
    assert not scan
    sql, params, _ = query.count_sql(Filters(tenant="a"), ["ext.colour"])
    assert params == ["a", "colour"]
    assert "extensions ->> $2" in sql


def test_unknown_group_and_bad_cursor_are_refused_with_reasons() -> None:
    with pytest.raises(ValidationFailed) as failed:
        query.validate_group_by(["colour"])
    assert failed.value.violations[0].reason == "unknown_dimension"
    with pytest.raises(ValidationFailed):
        query.decode_cursor("!!!")
    assert query.decode_cursor(query.encode_cursor("urn:uuid:x")) == "urn:uuid:x"


def test_population_report_totals_and_csv() -> None:
    report = reports.population("acme", cube(), datetime(2026, 1, 1, tzinfo=UTC))
    assert report["total"] == 100
    assert report["by_chemistry"] == {"NMC811": 60, "LFP": 40}
    assert list(report["by_stage"]) == ["manufactured", "in_service", "collected"]
    csv = rows_to_csv(report["rows"]).decode("utf-8")
    assert csv.splitlines()[0] == "category,chemistry,model,stage,passports"
    assert len(csv.splitlines()) == 4


def test_end_of_life_recovery_and_recycled_content_reports() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    eol = reports.end_of_life("acme", cube(), [("collector-1", 15)], 3, now)
    assert eol["end_of_life_total"] == 15
    assert eol["waste"] == 15
    assert eol["ceased"] == 3
    yields = reports.recovery_yields("acme", [("NMC811", "cobalt", 2, Decimal(9), Decimal("8.1"))], now)
    assert yields["rows"][0]["yield_pct"] == "90.0"
    rc = reports.recycled_content("acme", cube(), now)
    lfp = next(r for r in rc["rows"] if r["chemistry"] == "LFP")
    assert lfp["passports"] == 40
    assert lfp["passports_with_data"] == 15
    assert lfp["avg_post_consumer_cobalt_pct"] == "10.00"


def test_bar_chart_is_accessible_svg_with_values() -> None:
    svg = bar_chart({"title": "By <stage>", "unit": "passports", "series": [{"label": "a", "value": 3}]})
    assert 'role="img"' in svg
    assert "By &lt;stage&gt;" in svg
    assert 'data-value="3"' in svg
