"""CSV by the usual conventions (exports/formats.py): `true`/`false`, ISO 8601 instants and dates, decimals as
written, empty for nothing, UTF-8 with a header row, RFC 4180 quoting; the passport export and report downloads."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

from services.reporting.domain import readmodel
from services.reporting.exports.formats import CSV_COLUMNS, CsvWriter, csv_cell, rows_to_csv
from tests.unit.reporting.factories import T0, batteries, minted


def test_cells_follow_the_conventions() -> None:
    assert csv_cell(True) == "true"
    assert csv_cell(False) == "false"
    assert csv_cell(None) == ""
    assert csv_cell(datetime(2026, 3, 4, 10, 0, tzinfo=UTC)) == "2026-03-04T10:00:00+00:00"
    assert csv_cell(date(2026, 3, 4)) == "2026-03-04"
    assert csv_cell(Decimal("1E+1")) == "10"
    assert csv_cell(Decimal("0.50")) == "0.50"
    assert csv_cell(3) == "3"


def _state(ceased: bool) -> dict[str, object]:
    fact = minted(batteries(1, run="CSV001")[0], "acme")
    state = readmodel.empty_state(fact.passport_id, "acme")
    readmodel.apply_minted(state, fact)
    state["version"] = 1
    if ceased:
        state["ceased"] = True
        state["ceased_at"] = T0.isoformat()
    return state


def test_the_passport_export_writes_booleans_as_true_false_and_times_as_iso_8601() -> None:
    writer = CsvWriter()
    writer.add([_state(ceased=False), _state(ceased=True)])
    content = writer.finish()
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert list(rows[0]) == list(CSV_COLUMNS)  # the header row
    assert [r["ceased"] for r in rows] == ["false", "true"]
    minted_at = datetime.fromisoformat(rows[0]["minted_at"])
    assert minted_at.tzinfo is not None
    assert rows[0]["minted_at"] == T0.isoformat()


def test_a_report_table_is_utf8_with_a_header_of_every_column_and_quotes_what_needs_it() -> None:
    content = rows_to_csv(
        [
            {"model": "VX-400, 82 kWh", "ceased": True, "since": date(2026, 3, 1)},
            {"model": 'Wärmespeicher "Ö"', "ceased": False, "share_pct": Decimal("12.50")},
        ]
    )
    text = content.decode("utf-8")
    lines = text.split("\r\n")
    assert lines[0] == "model,ceased,since,share_pct"
    assert lines[1] == '"VX-400, 82 kWh",true,2026-03-01,'
    assert lines[2] == '"Wärmespeicher ""Ö""",false,,12.50'
    assert rows_to_csv([]) == b""
