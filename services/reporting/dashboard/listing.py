"""What a dashboard list asks for, read from its query string (no I/O): filters held to the values the data has,
a placed-on-market range or month, a sort column and direction, a page. Every refusal names the parameter, a stable
reason code and the values allowed, so a typo is a message, never an empty list that looks like an answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from services.reporting.api.queries import FILTER_ENUMS, QueryProblem
from services.reporting.domain import query
from services.reporting.domain.query import Filters

# Filters a dashboard list offers, in form order (query parameter -> Filters.equals name).
EQUALS_FILTERS = ("model", "chemistry", "category", "stage", "status", "plant", "batch")
RANGE_PARAMS = ("placed_month", "placed_from", "placed_to")
LIST_PARAMS = ("sort", "dir", "page", "per_page")
PER_PAGE = (25, 50, 100, 200)
DEFAULT_PER_PAGE = 50


class ListingRefused(Exception):
    """The query string asks what the list cannot answer."""

    def __init__(self, problems: Sequence[QueryProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class FilterChoices:
    """The values the data holds, per filter: what the form offers and what a query may ask."""

    values: Mapping[str, Sequence[str]]  # EQUALS_FILTERS name -> values
    months: Sequence[str] = ()  # placed-on-market months, YYYY-MM
    extensions: Mapping[str, Sequence[str]] = field(default_factory=dict)  # extension key -> text values
    extensions_complete: bool = True  # False: the extension values come from a sample of the passports


@dataclass(frozen=True)
class Listing:
    filters: Filters
    params: dict[str, str]  # the filter parameters as given, and the tenant if given (for links and the form)
    sort: str
    descending: bool
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def href(self, path: str, **changes: Any) -> str:
        """`path` with this listing's query string, `changes` applied (None removes a parameter)."""
        params: dict[str, Any] = {**self.params, "sort": self.sort, "dir": "desc" if self.descending else "asc"}
        if self.page != 1:
            params["page"] = self.page
        if self.per_page != DEFAULT_PER_PAGE:
            params["per_page"] = self.per_page
        params.update(changes)
        kept = {k: v for k, v in params.items() if v not in (None, "")}
        return f"{path}?{urlencode(kept)}" if kept else path

    def sort_href(self, path: str, column: str) -> str:
        """Sorting by `column`: ascending first, the other way when it is already the ascending sort; page 1."""
        flip = column == self.sort and not self.descending
        return self.href(path, sort=column, dir="desc" if flip else "asc", page=None)

    @property
    def filter_params(self) -> dict[str, str]:
        """The filters given (the tenant a cross-tenant reader looks at aside)."""
        return {k: v for k, v in self.params.items() if k != "tenant"}

    def filter_query(self) -> str:
        """The filters (and tenant) alone, as a query string: another view of the same population."""
        return urlencode(self.params)


def _problem(name: str, reason: str, message: str, allowed: Sequence[str] = ()) -> QueryProblem:
    return QueryProblem(name, reason, message, tuple(allowed))


def _day(name: str, value: str, problems: list[QueryProblem]) -> date | None:
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        pass
    problems.append(_problem(name, "invalid_date", f"{name}={value!r} is not a date; give it as YYYY-MM-DD."))
    return None


def _month(value: str, choices: FilterChoices, problems: list[QueryProblem]) -> date | None:
    try:
        first = date.fromisoformat(f"{value}-01") if len(value) == 7 else None
    except ValueError:
        first = None
    if first is None:
        problems.append(_problem("placed_month", "invalid_month", f"placed_month={value!r} is not a month (YYYY-MM)."))
        return None
    if value not in choices.months:
        problems.append(
            _problem(
                "placed_month",
                "unknown_filter_value",
                f"No passport was placed on the market in {value}; months with passports: "
                f"{', '.join(choices.months) or 'none'}.",
                choices.months,
            )
        )
    return first


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def parse_listing(
    params: Mapping[str, str],
    *,
    tenant: str,
    choices: FilterChoices,
    sorts: Sequence[str],
    default_sort: str,
    default_descending: bool = False,
) -> Listing:
    """The listing a query string asks for; ListingRefused naming every refused part otherwise."""
    problems: list[QueryProblem] = []
    given = {k: v for k, v in params.items() if v != ""}
    equals: dict[str, str] = {}
    for name in EQUALS_FILTERS:
        value = given.get(name)
        if value is None:
            continue
        allowed = choices.values.get(name, ())
        if name in FILTER_ENUMS and value not in FILTER_ENUMS[name]:
            problems.append(
                _problem(
                    name,
                    "invalid_filter_value",
                    f"{name}={value!r} is not one of {', '.join(FILTER_ENUMS[name])}.",
                    FILTER_ENUMS[name],
                )
            )
        elif value not in allowed:
            listed = ", ".join(allowed[:30]) + (" ..." if len(allowed) > 30 else "")
            problems.append(
                _problem(
                    name,
                    "unknown_filter_value",
                    f"No passport has {name} {value!r}; the values present are: {listed or 'none'}.",
                    allowed,
                )
            )
        equals[name] = value
    extensions: dict[str, str] = {}
    for name, value in sorted(given.items()):
        if not name.startswith(query.EXTENSION_PREFIX):
            continue
        key = name[len(query.EXTENSION_PREFIX) :]
        if not key or len(key) > 100:
            problems.append(_problem(name, "invalid_extension_filter", "Name an extension field after ext."))
            continue
        known = choices.extensions.get(key)
        if choices.extensions_complete and (known is None or value not in known):
            problems.append(
                _problem(
                    name,
                    "unknown_filter_value",
                    f"No passport has the extension field {key!r} set to {value!r}"
                    + (f"; its values are: {', '.join(known)}." if known else "; no passport has that field."),
                    known or (),
                )
            )
        extensions[key] = value
    placed_from = placed_to = None
    month = given.get("placed_month")
    if month is not None and ("placed_from" in given or "placed_to" in given):
        problems.append(
            _problem("placed_month", "conflicting_filters", "Give a placed-on-market month or a date range, not both.")
        )
    elif month is not None:
        first = _month(month, choices, problems)
        if first is not None:
            placed_from = _midnight(first)
            placed_to = _midnight((first + timedelta(days=32)).replace(day=1))
    else:
        start = _day("placed_from", given["placed_from"], problems) if "placed_from" in given else None
        end = _day("placed_to", given["placed_to"], problems) if "placed_to" in given else None
        if start and end and end < start:
            problems.append(
                _problem("placed_to", "invalid_date_range", f"placed_to {end} is before placed_from {start}.")
            )
        placed_from = _midnight(start) if start else None
        placed_to = _midnight(end + timedelta(days=1)) if end else None  # the last day counts
    sort = given.get("sort", default_sort)
    if sort not in sorts:
        problems.append(
            _problem("sort", "invalid_sort", f"Cannot sort by {sort!r}; sort by {', '.join(sorts)}.", sorts)
        )
    direction = given.get("dir", "desc" if default_descending else "asc")
    if direction not in ("asc", "desc"):
        problems.append(_problem("dir", "invalid_sort_direction", "dir is asc or desc.", ("asc", "desc")))
    page = _positive("page", given.get("page", "1"), problems)
    per_page = _positive("per_page", given.get("per_page", str(DEFAULT_PER_PAGE)), problems)
    if per_page is not None and per_page not in PER_PAGE:
        allowed_sizes = tuple(str(n) for n in PER_PAGE)
        problems.append(
            _problem("per_page", "invalid_page_size", f"per_page is one of {', '.join(allowed_sizes)}.", allowed_sizes)
        )
    if problems:
        raise ListingRefused(problems)
    kept = {k: v for k, v in given.items() if k in ("tenant", *EQUALS_FILTERS, *RANGE_PARAMS) or k.startswith("ext.")}
    return Listing(
        filters=Filters(
            tenant=tenant, equals=equals, extensions=extensions, placed_from=placed_from, placed_to=placed_to
        ),
        params=kept,
        sort=sort,
        descending=direction == "desc",
        page=page or 1,
        per_page=per_page or DEFAULT_PER_PAGE,
    )


def _positive(name: str, value: str, problems: list[QueryProblem]) -> int | None:
    if value.isdigit() and 0 < int(value) <= 1_000_000:
        return int(value)
    problems.append(_problem(name, "invalid_page", f"{name}={value!r} is not a whole number from 1."))
    return None


@dataclass(frozen=True)
class Pager:
    """Where a page lies in the whole list: 'rows 51-100 of 312', previous and next."""

    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first_row(self) -> int:
        return min(self.total, (self.page - 1) * self.per_page + 1)

    @property
    def last_row(self) -> int:
        return min(self.total, self.page * self.per_page)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages
