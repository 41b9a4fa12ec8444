"""What every reporting route shares: who may read, tenant scoping, filters from the query string."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status
from pydantic import BeforeValidator

from contracts.attributes import AccessTier, BatteryCategory
from contracts.errors import ValidationFailed, Violation
from contracts.passport_data import BatteryKind
from services.common.access import (
    LEGITIMATE_INTEREST_ROLES,
    PURPOSE_MAX_TEXT,
    ReadPurpose,
    purpose_required_message,
    reader_tier,
)
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.runtime import Runtime
from services.reporting.api.entitlement import require_read_entitlement
from services.reporting.api.queries import PassportStatus, Stage
from services.reporting.domain import query
from services.reporting.domain.query import Filters
from services.reporting.domain.tiers import hidden_dimensions

READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator)
CROSS_TENANT_ROLES = frozenset({Role.regulator, Role.platform_operator})
# One passport by id: the readers above plus value-chain operators, who read the legitimate-interest tier with a
# stated purpose (Art. 77(2)).
PASSPORT_READERS = require_roles(
    *OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator, *sorted(LEGITIMATE_INTEREST_ROLES)
)
# Reads at these tiers are logged (who, when, which passport, which fields, why).

PURPOSE_REQUIRED_RESPONSE: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "`purpose_required`: carriers, collectors, recyclers, refiners and repairers must state why "
        "they read (query parameter `purpose`); also an unparsable request."
    }
}


def _rfc3339_text(value: object) -> object:
    """A time in the query string is RFC 3339 text; pydantic alone reads a bare number (`placed_to=0.5`) as Unix
    seconds, a filter nobody meant."""
    if not isinstance(value, str) or not _RFC3339_DATE.match(value):
        raise ValueError("give an RFC 3339 date-time, e.g. 2026-03-01T00:00:00Z")
    return value


_RFC3339_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]|$)")
QueryTime = Annotated[datetime, BeforeValidator(_rfc3339_text)]


@dataclass(frozen=True)
class PassportReader:
    """Who reads one passport, and why (the purpose is required of value-chain operators)."""

    principal: Principal
    purpose: ReadPurpose | None
    purpose_text: str | None

    def tier_for(self, passport_tenant: str) -> AccessTier | None:
        """The tier this reader reads a passport of `passport_tenant` at; None: the passport is not visible
        (another tenant's OEM key: a 404, never a hint that it exists)."""
        tier = reader_tier(
            self.principal, passport_tenant, purpose=self.purpose.value if self.purpose is not None else None
        )
        return None if tier is AccessTier.public else tier


async def passport_reader(
    request: Request,
    principal: Annotated[Principal, PASSPORT_READERS],
    purpose: Annotated[
        ReadPurpose | None,
        Query(
            description="Why you read: required of carriers, collectors, recyclers, refiners and repairers (they "
            "read the legitimate-interest tier); optional for regulators. Logged with the read.",
            examples=["recycling"],
        ),
    ] = None,
    purpose_text: Annotated[
        str | None,
        Query(max_length=PURPOSE_MAX_TEXT, description="Free text about the purpose (case, work order); logged."),
    ] = None,
) -> PassportReader:
    if principal.role in LEGITIMATE_INTEREST_ROLES and purpose is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, {"reason": "purpose_required", "message": purpose_required_message()}
        )
    await require_read_entitlement(request, principal, purpose)  # registered, verified, a role fitting the purpose
    return PassportReader(principal, purpose, purpose_text or None)


READER = Depends(passport_reader)


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
    """Filters shared by search, counts, reports and exports (OpenAPI documents each, with its enum)."""

    QUERY_PREFIXES = (query.EXTENSION_PREFIX,)  # `ext.<field>` filters, read from the query string here

    def __init__(
        self,
        request: Request,
        tenant: Annotated[str | None, Query(description="Tenant (regulators and operators only).")] = None,
        model: Annotated[str | None, Query(description="Battery model.")] = None,
        product_family: Annotated[str | None, Query(description="OEM product family.")] = None,
        chemistry: Annotated[str | None, Query(description="Chemistry short name, e.g. NMC811.")] = None,
        category: Annotated[BatteryCategory | None, Query(description="Battery category (Art. 3).")] = None,
        batch: Annotated[str | None, Query(description="Production batch / lot.")] = None,
        plant: Annotated[str | None, Query(description="Manufacturing plant (facility id or locality).")] = None,
        status_: Annotated[PassportStatus | None, Query(alias="status", description="Annex XIII status.")] = None,
        stage: Annotated[Stage | None, Query(description="Lifecycle stage.")] = None,
        current_handler: Annotated[str | None, Query(description="Registered handler holding it now.")] = None,
        kind: Annotated[BatteryKind | None, Query(description="What the passport is issued for.")] = None,
        placed_from: Annotated[QueryTime | None, Query(description="Placed on market at or after (RFC 3339).")] = None,
        placed_to: Annotated[QueryTime | None, Query(description="Placed on market before (RFC 3339).")] = None,
        ceased: Annotated[bool | None, Query(description="Only ceased (true) or live (false) passports.")] = None,
    ) -> None:
        self.tenant = tenant
        self.equals = {
            k: v.value if isinstance(v, Enum) else v
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

    def names(self) -> list[str]:
        """The dimensions this request filters on (`ext.<field>` for extension fields)."""
        given = [*self.equals, *(f"{query.EXTENSION_PREFIX}{key}" for key in self.extensions)]
        given += [name for name in ("placed_from", "placed_to") if getattr(self, name) is not None]
        return given + (["ceased"] if self.ceased is not None else [])

    def resolve(self, principal: Principal, group_by: Sequence[str] = ()) -> Filters:
        """The filters over the tenant the principal may report on; 403 `dimension_not_permitted` when it filters
        or groups by data its tier may not read (regulators: the OEM's product family and extension fields)."""
        tenant = scope_tenant(principal, self.tenant)
        tier = reader_tier(principal, tenant)
        hidden = hidden_dimensions([*self.names(), *group_by], tier)
        if hidden:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                {
                    "reason": "dimension_not_permitted",
                    "field": hidden[0],
                    "message": f"{', '.join(hidden)}: data of the owner only; at the {tier.value} tier, filter and "
                    "group by what that tier reads (model, chemistry, category, status, stage, ...).",
                },
            )
        return Filters(
            tenant=tenant,
            equals=self.equals,
            extensions=self.extensions,
            placed_from=self.placed_from,
            placed_to=self.placed_to,
            ceased=self.ceased,
        )


FILTERS = Depends(FilterParams)
DIMENSION_NOT_PERMITTED_RESPONSE: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "`dimension_not_permitted`: a filter or grouping on data the caller's tier may not read "
        "(for regulators: the OEM's product family and extension fields); `field` names the first one."
    }
}
EXTENSION_FILTER_DOC = (
    "Filter on OEM extension fields too with `ext.<field>=<value>` query parameters (exact match, any number)."
)
