"""What every dashboard page shares: its strict query strings (a refusal is a 400 page), who is signed in (the
session's key, or an X-API-Key header) and at which tenant they look, and the small urlencoded forms it posts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, quote

import redis.asyncio as aioredis
from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response

from services.common.access import reader_tier
from services.common.auth import OEM_ROLES, Keyring, Principal, Role, db_scope_of
from services.common.db import set_scope
from services.reporting.api.common import runtime_of, scope_tenant
from services.reporting.api.queries import QueryProblem, StrictQueryRoute
from services.reporting.dashboard.html import NAV, page, refused_page
from services.reporting.dashboard.listing import EQUALS_FILTERS, FilterChoices, Listing
from services.reporting.dashboard.session import COOKIE, DashboardSessions
from services.reporting.domain import query
from services.reporting.domain.query import Filters
from services.reporting.domain.tiers import hidden_dimensions


class DashboardQueryRoute(StrictQueryRoute):
    """The read API's strict query strings, for pages: blank form fields count as absent, every page takes the
    `tenant` of cross-tenant readers (Ctx reads it), and a refusal is a 400 page."""

    always_allowed = frozenset({"tenant"})
    blank_means_absent = True

    def refuse(self, request: Request, problems: Sequence[QueryProblem]) -> Response:
        return refused_page(problems)


ALLOWED = frozenset({*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator})


def sessions_of(request: Request) -> DashboardSessions:
    return DashboardSessions(runtime_of(request).redis)


def sessions_unavailable() -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        {"reason": "sessions_unavailable", "message": "Sessions cannot be reached just now; try again."},
        headers={"Retry-After": "5"},
    )


async def dashboard_principal(request: Request) -> Principal:
    keyring: Keyring = request.app.state.keyring
    key = request.headers.get("x-api-key")
    if key is None:
        try:
            key = await sessions_of(request).api_key(request.cookies.get(COOKIE))
        except aioredis.RedisError:
            raise sessions_unavailable() from None
    principal = keyring.authenticate(key) if key else None
    if principal is None:  # no session, or a forged, expired or closed one, or its key since revoked
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/dashboard/login"})
    if principal.role not in ALLOWED:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {"reason": "role_not_allowed", "message": "Not for this key."})
    return principal


CHOICES_TTL_S = 30.0
_CHOICES: dict[tuple[str, bool], tuple[float, FilterChoices]] = {}


def choices_of(rows: Sequence[tuple[str, str]], with_extensions: bool) -> FilterChoices:
    """FilterChoices from the (name, value) rows of query.choices_sql."""
    values: dict[str, list[str]] = {name: [] for name in EQUALS_FILTERS}
    extensions: dict[str, list[str]] = {}
    months: list[str] = []
    sampled = 0
    for name, value in rows:
        if name == "#sampled":
            sampled = int(value)
        elif name == "placed_month":
            months.append(value)
        elif name.startswith(query.EXTENSION_PREFIX):
            extensions.setdefault(name[len(query.EXTENSION_PREFIX) :], []).append(value)
        elif name in values:
            values[name].append(value)
    complete = with_extensions and sampled <= query.EXTENSION_SAMPLE
    return FilterChoices(
        {k: sorted(v) for k, v in values.items()},
        sorted(months),
        {k: sorted(v) for k, v in extensions.items()},
        complete,
    )


class Ctx:
    """Who is looking, at which tenant."""

    def __init__(self, request: Request, principal: Principal) -> None:
        self.request = request
        self.principal = principal
        self.tenant = scope_tenant(self.principal, request.query_params.get("tenant"))
        self.cross = self.principal.role in {Role.regulator, Role.platform_operator}
        self.tenant_q = f"?tenant={quote(self.tenant)}" if self.cross else ""
        set_scope(db_scope_of(self.principal))  # the dashboard authenticates by cookie, not by the dependency
        self.pool = runtime_of(request).pool

    @classmethod
    async def of(cls, request: Request) -> Ctx:
        return cls(request, await dashboard_principal(request))

    def page(self, template: str, title: str, active: str, **context: Any) -> HTMLResponse:
        """A dashboard page: the template with the navigation, who is signed in, and the tenant to keep."""
        who = f"{self.principal.role.value} · {self.tenant}"
        return page(
            template,
            title=title,
            active=active,
            who=who,
            nav=NAV,
            tenant_q=self.tenant_q,
            tenant_param=self.tenant_param,
            **context,
        )

    async def choices(self, *, fresh: bool = False) -> FilterChoices:
        """What the filter form offers: the values the tenant's passports hold (regulators: no extension fields,
        which only the owner reads). Kept CHOICES_TTL_S seconds per tenant and tier; `fresh` reads them again
        (a value the kept ones lack is looked for in the data before it is refused)."""
        with_extensions = not hidden_dimensions(["ext.any"], reader_tier(self.principal, self.tenant))
        key = (self.tenant, with_extensions)
        kept = _CHOICES.get(key)
        if kept is not None and not fresh and time.monotonic() - kept[0] < CHOICES_TTL_S:
            return kept[1]
        rows = await self.pool.fetch(query.choices_sql(with_extensions), self.tenant)
        found = choices_of([(r["name"], r["value"]) for r in rows], with_extensions)
        if len(_CHOICES) > 1000:  # tenants come and go: never more than a thousand kept
            _CHOICES.clear()
        _CHOICES[key] = (time.monotonic(), found)
        return found

    def filter_form(
        self, action: str, listing: Listing, choices: FilterChoices, keep: dict[str, str]
    ) -> dict[str, Any]:
        """What the filter form template needs: selects with the data's values, the month and date range, the
        extension fields, and the list parameters to carry over (sort, page size)."""
        params = listing.params
        return {
            "action": action,
            "tenant": self.tenant if self.cross else "",
            "selects": [
                {"name": n, "label": n.replace("_", " "), "options": choices.values.get(n, ()), "value": params.get(n)}
                for n in EQUALS_FILTERS
            ],
            "months": choices.months,
            "placed_month": params.get("placed_month", ""),
            "placed_from": params.get("placed_from", ""),
            "placed_to": params.get("placed_to", ""),
            "extensions": [
                {"name": f"ext.{k}", "label": k.replace("_", " "), "options": v, "value": params.get(f"ext.{k}")}
                for k, v in sorted(choices.extensions.items())
            ],
            "keep": sorted(keep.items()),
            "active": [(k.replace("_", " "), v) for k, v in listing.filter_params.items()],
            "clear_q": self.tenant_q,
        }

    def filters(self, **equals: str | None) -> Filters:
        return Filters(tenant=self.tenant, equals={k: v for k, v in equals.items() if v})

    @property
    def tenant_param(self) -> str | None:
        return self.tenant if self.cross else None


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form body (the dashboard's forms are small; no multipart)."""
    body = (await request.body())[:65_536].decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
