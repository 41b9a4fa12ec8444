"""The recovery-yields report never shows more than 100 % + the assay tolerance (5 %) of what the passports
declared: recovery refuses more (`mass_balance_exceeded`), and rows recorded before that rule are capped and flagged."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.reporting.domain import reports

NOW = datetime(2026, 12, 7, tzinfo=UTC)
CEILING_PCT = Decimal(105)  # the documented 5 % tolerance


@st.composite
def totals_rows(draw: st.DrawFn) -> list[tuple[str, str, int, Decimal, Decimal]]:
    """recovery_totals rows: (chemistry, material, passports, contained kg, recovered kg), recovered 0–3 × contained
    (or anything when nothing was declared), at 0.001 kg."""
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(["NMC811", "LFP", ""]), st.sampled_from(["cobalt", "lithium", "nickel"])),
            max_size=9,
            unique=True,
        )
    )
    out = []
    for chemistry, material in keys:
        contained = draw(st.decimals(min_value="0", max_value="100000", places=3))
        if contained == 0:
            recovered = draw(st.decimals(min_value="0", max_value="10", places=3))
        else:
            ratio = draw(st.decimals(min_value="0", max_value="3", places=4))
            recovered = (contained * ratio).quantize(Decimal("0.001"))
        out.append((chemistry, material, draw(st.integers(1, 1000)), contained, recovered))
    return out


def test_the_demo_figures_show_capped_at_105_percent_and_flagged() -> None:
    """Lithium 195 %, cobalt 137 %, manganese 245 % as recorded before the rule; nickel 90 % untouched."""
    totals = [
        ("NMC811", "lithium", 10, Decimal("29.840"), Decimal("58.188")),
        ("NMC811", "cobalt", 10, Decimal("46.120"), Decimal("63.184")),
        ("NMC811", "manganese", 10, Decimal("46.120"), Decimal("112.994")),
        ("NMC811", "nickel", 10, Decimal("384.380"), Decimal("345.942")),
    ]
    report = reports.recovery_yields("acme", totals, NOW)
    by_material = {r["material"]: r for r in report["rows"]}
    assert {m: r["yield_pct"] for m, r in by_material.items()} == {
        "cobalt": "105.0",
        "lithium": "105.0",
        "manganese": "105.0",
        "nickel": "90.0",
    }
    assert by_material["lithium"]["recovered_kg"] == "31.332"  # 29.840 × 1.05
    assert by_material["lithium"]["recovered_kg_reported"] == "58.188"
    assert [m for m, r in by_material.items() if r["capped"]] == ["cobalt", "lithium", "manganese"]
    assert report["capped_rows"] == 3
    assert report["tolerance_pct"] == "5"
    assert max(point["value"] for point in report["charts"][0]["series"]) == 105.0


@settings(max_examples=150, deadline=None)
@given(totals=totals_rows())
@example(totals=[("NMC811", "cobalt", 1, Decimal("100.000"), Decimal("1.055"))])  # 105.5 %: capped
@example(totals=[("NMC811", "cobalt", 1, Decimal("100.000"), Decimal("1.05"))])  # 105 % exactly: as reported
@example(totals=[("LFP", "cobalt", 1, Decimal("0"), Decimal("1"))])  # credited without anything declared
def test_no_yield_passes_105_percent_and_only_rows_above_it_are_capped(
    totals: list[tuple[str, str, int, Decimal, Decimal]],
) -> None:
    report = reports.recovery_yields("acme", totals, NOW)
    reported = {(r[0] or reports.UNKNOWN, r[1]): (r[3], r[4]) for r in totals}
    for row in report["rows"]:
        contained, recovered = reported[(row["chemistry"], row["material"])]
        above = recovered > contained * CEILING_PCT / 100
        assert row["capped"] is above
        assert Decimal(row["recovered_kg_reported"]) == round(recovered, 3)
        if above:
            assert Decimal(row["recovered_kg"]) == round(contained * CEILING_PCT / 100, 3)
        else:
            assert Decimal(row["recovered_kg"]) == round(recovered, 3)
        if row["yield_pct"] is not None:
            assert Decimal(row["yield_pct"]) <= CEILING_PCT
    assert report["capped_rows"] == sum(1 for row in report["rows"] if row["capped"])
    for point in report["charts"][0]["series"]:
        assert point["value"] <= float(CEILING_PCT)
