"""What every dashboard page shares: its strict query strings (a refusal is a 400 page), who is signed in (the
session's key, or an X-API-Key header) and at which tenant they look, and the small urlencoded forms it posts."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qs, quote

import redis.asyncio as aioredis
from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response

from services.common.auth import OEM_ROLES, Keyring, Principal, Role, db_scope_of
from services.common.db import set_scope
from services.reporting.api.common import runtime_of, scope_tenant
from services.reporting.api.queries import QueryProblem, StrictQueryRoute
from services.reporting.dashboard.html import e, page
from services.reporting.dashboard.session import COOKIE, DashboardSessions
from services.reporting.domain.query import Filters


class DashboardQueryRoute(StrictQueryRoute):
    """The read API's strict query strings, for pages: blank form fields count as absent, every page takes the
    `tenant` of cross-tenant readers (Ctx reads it), and a refusal is a 400 page."""

    always_allowed = frozenset({"tenant"})
    blank_means_absent = True

    def refuse(self, request: Request, problems: Sequence[QueryProblem]) -> Response:
        items = "".join(
            f"<li data-reason='{e(p.reason)}' data-field='{e(p.field)}'><code>{e(p.field)}</code>: {e(p.message)}</li>"
            for p in problems
        )
        body = f"<p class='bad' role='alert'>This page cannot answer that query.</p><ul id='refused'>{items}</ul>"
        return HTMLResponse(page("Bad request", body), status_code=status.HTTP_400_BAD_REQUEST)


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

    def render(self, title: str, body: str, active: str) -> HTMLResponse:
        who = f"{self.principal.role.value} · {self.tenant}"
        return HTMLResponse(page(title, body, active=active, who=who, tenant_q=self.tenant_q))

    def filters(self, **equals: str | None) -> Filters:
        return Filters(tenant=self.tenant, equals={k: v for k, v in equals.items() if v})

    @property
    def tenant_param(self) -> str | None:
        return self.tenant if self.cross else None


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form body (the dashboard's forms are small; no multipart)."""
    body = (await request.body())[:65_536].decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
