"""What every reporting route shares: who may read, tenant scoping, filters from the query string."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status

from contracts.errors import ValidationFailed, Violation
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.runtime import Runtime
from services.reporting.domain import query
from services.reporting.domain.query import Filters

READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator)
CROSS_TENANT_ROLES = frozenset({Role.regulator, Role.platform_operator})


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def not_found(passport_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        {"reason": "passport_not_found", "message": f"No passport {passport_id} is visible to you."},
    )


def visible(principal: Principal, tenant: str) -> bool:
    return principal.role in CROSS_TENANT_ROLES or principal.tenant == tenant


def scope_tenant(principal: Principal, requested: str | None) -> str:
    """The tenant a search, count or report runs over: the caller's own; cross-tenant roles name one."""
    if principal.role in CROSS_TENANT_ROLES:
        if not requested:
            raise ValidationFailed(
                [Violation(field="tenant", reason="tenant_required", message="Name the tenant to report on.")]
            )
        return requested
    if principal.tenant is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {"reason": "no_tenant", "message": "This key names no tenant."})
    if requested and requested != principal.tenant:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, {"reason": "tenant_not_found", "message": f"No tenant {requested} for you."}
        )
    return principal.tenant


class FilterParams:
    """Filters shared by search, counts, reports and exports (OpenAPI documents each)."""

    def __init__(
        self,
        request: Request,
        tenant: Annotated[str | None, Query(description="Tenant (regulators and operators only).")] = None,
        model: Annotated[str | None, Query(description="Battery model.")] = None,
        product_family: Annotated[str | None, Query(description="OEM product family.")] = None,
        chemistry: Annotated[str | None, Query(description="Chemistry short name, e.g. NMC811.")] = None,
        category: Annotated[str | None, Query(description="ev, lmt, industrial or stationary.")] = None,
        batch: Annotated[str | None, Query(description="Production batch / lot.")] = None,
        plant: Annotated[str | None, Query(description="Manufacturing plant (facility id or locality).")] = None,
        status_: Annotated[
            str | None, Query(alias="status", description="original, repurposed, re-used, remanufactured, waste.")
        ] = None,
        stage: Annotated[str | None, Query(description="Lifecycle stage, e.g. in_service.")] = None,
        current_handler: Annotated[str | None, Query(description="Registered handler holding it now.")] = None,
        kind: Annotated[str | None, Query(description="battery, pack or batch.")] = None,
        placed_from: Annotated[datetime | None, Query(description="Placed on market at or after (RFC 3339).")] = None,
        placed_to: Annotated[datetime | None, Query(description="Placed on market before (RFC 3339).")] = None,
        ceased: Annotated[bool | None, Query(description="Only ceased (true) or live (false) passports.")] = None,
    ) -> None:
        self.tenant = tenant
        self.equals = {
            k: v
            for k, v in {
                "model": model,
                "product_family": product_family,
                "chemistry": chemistry,
                "category": category,
                "batch": batch,
                "plant": plant,
                "status": status_,
                "stage": stage,
                "current_handler": current_handler,
                "kind": kind,
            }.items()
            if v is not None and v != ""
        }
        self.extensions = query.parse_extension_filters(dict(request.query_params))
        self.placed_from = placed_from
        self.placed_to = placed_to
        self.ceased = ceased

    def resolve(self, principal: Principal) -> Filters:
        return Filters(
            tenant=scope_tenant(principal, self.tenant),
            equals=self.equals,
            extensions=self.extensions,
            placed_from=self.placed_from,
            placed_to=self.placed_to,
            ceased=self.ceased,
        )


FILTERS = Depends(FilterParams)
EXTENSION_FILTER_DOC = (
    "Filter on OEM extension fields too with `ext.<field>=<value>` query parameters (exact match, any number)."
)
