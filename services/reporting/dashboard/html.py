"""How the dashboard's pages are rendered: Jinja2 templates under templates/dashboard/ (autoescaped, strict about
missing values), the navigation, and the two filters the templates share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse

from services.reporting.api.queries import QueryProblem
from services.reporting.templating import environment, render

NAV = (
    ("population", "/dashboard", "Population"),
    ("passports", "/dashboard/passports", "Passports"),
    ("batches", "/dashboard/batches", "Batches"),
    ("stages", "/dashboard/stages", "Lifecycle stages"),
    ("reports", "/dashboard/reports", "Reports"),
)


def num(value: Any) -> str:
    """Counts with thousands separators; anything else as it is."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def cell(value: Any) -> str:
    """A table cell: empty for nothing, yes/no for booleans, instants to the minute in UTC."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC") if value.tzinfo else value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    return num(value)


def qs(params: dict[str, Any]) -> str:
    """A query string of the given parameters, the empty ones left out."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


environment.filters["num"] = num
environment.filters["cell"] = cell
environment.filters["qs"] = qs


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(f"dashboard/{template}", **context), status_code=status_code)


def refused_page(problems: Sequence[QueryProblem], *, status_code: int = 400) -> HTMLResponse:
    """The page of a query the dashboard cannot answer: every refused parameter, its reason code and message."""
    return page("refused.html", status_code, title="Bad request", problems=problems, nav=None)
