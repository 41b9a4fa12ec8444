"""The dashboard's list parameters (services/reporting/dashboard/listing.py): filters held to the data's values,
month and date ranges, sort and paging, and the SQL they become (domain/query.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.reporting.dashboard.listing import FilterChoices, Listing, ListingRefused, Pager, parse_listing
from services.reporting.domain import query

CHOICES = FilterChoices(
    values={"chemistry": ["LFP", "NMC622", "NMC811"], "category": ["ev", "lmt"], "stage": ["in_treatment"]},
    months=["2026-02", "2026-03"],
    extensions={"colour": ["blue", "red"]},
)
SORTS = ("battery", "model", "placed_on_market")


def parse(**params: str) -> Listing:
    return parse_listing(params, tenant="oem-a", choices=CHOICES, sorts=SORTS, default_sort="battery")


def refusal(**params: str) -> list[tuple[str, str]]:
    with pytest.raises(ListingRefused) as raised:
        parse(**params)
    return [(p.field, p.reason) for p in raised.value.problems]


def test_a_value_the_data_holds_filters() -> None:
    listing = parse(chemistry="NMC811", category="ev", **{"ext.colour": "red"})
    assert listing.filters.equals == {"chemistry": "NMC811", "category": "ev"}
    assert listing.filters.extensions == {"colour": "red"}


def test_a_typo_is_refused_naming_the_values_present() -> None:
    with pytest.raises(ListingRefused) as raised:
        parse(chemistry="NMC81")
    (problem,) = raised.value.problems
    assert (problem.field, problem.reason) == ("chemistry", "unknown_filter_value")
    assert problem.allowed == ("LFP", "NMC622", "NMC811")
    assert "NMC811" in problem.message


def test_an_enumerated_filter_outside_its_enum_is_refused() -> None:
    assert refusal(stage="melted") == [("stage", "invalid_filter_value")]


def test_an_extension_value_no_passport_has_is_refused_unless_the_values_are_a_sample() -> None:
    assert refusal(**{"ext.colour": "green"}) == [("ext.colour", "unknown_filter_value")]
    sampled = FilterChoices(values={}, extensions={"colour": ["red"]}, extensions_complete=False)
    listing = parse_listing({"ext.colour": "green"}, tenant="t", choices=sampled, sorts=SORTS, default_sort="battery")
    assert listing.filters.extensions == {"colour": "green"}


def test_a_month_is_its_first_instant_to_the_next_months_first() -> None:
    listing = parse(placed_month="2026-03")
    assert listing.filters.placed_from == datetime(2026, 3, 1, tzinfo=UTC)
    assert listing.filters.placed_to == datetime(2026, 4, 1, tzinfo=UTC)


def test_a_month_without_passports_or_not_a_month_is_refused() -> None:
    assert refusal(placed_month="2026-07") == [("placed_month", "unknown_filter_value")]
    assert refusal(placed_month="2026-13") == [("placed_month", "invalid_month")]
    assert refusal(placed_month="2026-03", placed_from="2026-03-01") == [("placed_month", "conflicting_filters")]


def test_a_date_range_includes_its_last_day() -> None:
    listing = parse(placed_from="2026-03-01", placed_to="2026-03-31")
    assert listing.filters.placed_from == datetime(2026, 3, 1, tzinfo=UTC)
    assert listing.filters.placed_to == datetime(2026, 4, 1, tzinfo=UTC)


def test_bad_dates_and_reversed_ranges_are_refused() -> None:
    assert refusal(placed_from="2026-02-30") == [("placed_from", "invalid_date")]
    assert refusal(placed_to="31/03/2026") == [("placed_to", "invalid_date")]
    assert refusal(placed_from="2026-03-31", placed_to="2026-03-01") == [("placed_to", "invalid_date_range")]


def test_every_refused_part_is_named_at_once() -> None:
    assert refusal(chemistry="x", sort="colour", dir="up", page="0", per_page="7") == [
        ("chemistry", "unknown_filter_value"),
        ("sort", "invalid_sort"),
        ("dir", "invalid_sort_direction"),
        ("page", "invalid_page"),
        ("per_page", "invalid_page_size"),
    ]


def test_sort_links_flip_direction_and_go_back_to_page_one() -> None:
    listing = parse(chemistry="LFP", sort="model", dir="asc", page="3")
    assert listing.sort_href("/p", "model") == "/p?chemistry=LFP&sort=model&dir=desc"
    assert listing.sort_href("/p", "battery") == "/p?chemistry=LFP&sort=battery&dir=asc"
    assert listing.href("/p", page=4) == "/p?chemistry=LFP&sort=model&dir=asc&page=4"
    assert parse(sort="model", dir="desc").sort_href("/p", "model") == "/p?sort=model&dir=asc"


def test_paging_offsets_and_positions() -> None:
    listing = parse(page="3", per_page="25")
    assert listing.offset == 50
    pager = Pager(total=312, page=3, per_page=25)
    assert (pager.first_row, pager.last_row, pager.pages) == (51, 75, 13)
    assert pager.has_previous
    assert pager.has_next
    last = Pager(total=312, page=13, per_page=25)
    assert (last.first_row, last.last_row, last.has_next) == (301, 312, False)
    assert Pager(total=0, page=1, per_page=25).pages == 1


def test_the_page_sql_orders_by_the_sort_column_then_passport_id_and_pages() -> None:
    listing = parse(chemistry="LFP", sort="placed_on_market", dir="desc", page="2", per_page="25")
    sql, params = query.page_sql(listing.filters, listing.sort, listing.descending, listing.offset, listing.per_page)
    assert "ORDER BY placed_on_market_at DESC NULLS LAST, passport_id" in sql
    assert params[-2:] == [25, 25]
    assert "chemistry = $2" in sql
    assert params[1] == "LFP"


def test_the_batches_sql_counts_every_batch_that_matches() -> None:
    listing = parse(chemistry="LFP")
    sql, params = query.batches_sql(listing.filters, "passports", True, 200, 200)
    assert "count(*) OVER () AS total_rows" in sql
    assert "ORDER BY passports DESC NULLS LAST" in sql
    assert params[-2:] == [200, 200]
    total_sql, _ = query.batches_total_sql(listing.filters)
    assert "GROUP BY batch, model, chemistry" in total_sql
