"""`bpass ops` fits the terminal: every header and figure whole (no "ser…") at 80 and at 200 columns, with the
consumer lag and the outbox age read from the services' metrics."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bpass.ops import COLUMNS, ServiceFigures, parse_metrics, render

METRICS = """\
# TYPE bpass_consumer_lag gauge
bpass_consumer_lag{service="reporting",topic="bpass.identity.passport-minted.v2",partition="0"} 1200.0
bpass_consumer_lag{service="reporting",topic="bpass.identity.passport-minted.v2",partition="1"} 34.0
# TYPE bpass_outbox_oldest_age_seconds gauge
bpass_outbox_oldest_age_seconds{service="reporting"} 12.5
# TYPE bpass_outbox_backlog gauge
bpass_outbox_backlog{service="reporting"} 77.0
"""


def figures() -> list[ServiceFigures]:
    reporting = parse_metrics("reporting", METRICS)
    reporting.ready = "not ready"
    return [ServiceFigures("identity", ready="ready"), ServiceFigures("custody"), ServiceFigures("recovery"), reporting]


def printed(width: int) -> list[str]:
    out = io.StringIO()
    Console(width=width, file=out, color_system=None).print(render(figures(), 2.0, {}, width))
    return out.getvalue().splitlines()


def test_metrics_give_lag_summed_and_the_oldest_outbox_age() -> None:
    reporting = figures()[-1]
    assert (reporting.lag, reporting.outbox_age_s, reporting.outbox_backlog) == (1234, 12.5, 77)


@pytest.mark.parametrize("width", [80, 200])
def test_the_table_fits_the_terminal_with_every_cell_whole(width: int) -> None:
    lines = printed(width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    assert "…" not in text
    for word in (*COLUMNS[1:], "identity", "custody", "recovery", "reporting", "not ready", "1234", "12.5s"):
        assert word in text, f"{word!r} missing at {width} columns:\n{text}"


def test_a_wide_terminal_gets_a_row_per_service_a_narrow_one_a_column_per_service() -> None:
    wide = printed(200)
    assert [line for line in wide if "reporting" in line and "1234" in line and "12.5s" in line]
    narrow = printed(80)
    assert [line for line in narrow if all(s in line for s in ("identity", "custody", "recovery", "reporting"))]
    assert [line for line in narrow if "lag" in line and "1234" in line]
