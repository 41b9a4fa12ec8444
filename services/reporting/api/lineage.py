"""A passport's lineage (Art. 77(7)): the passports it was made from, as far back as asked, each at the tier the
reader may see. A second-life operator reads its predecessors at the legitimate-interest tier: their status,
history and the data needed to handle the battery, never the original OEM's private fields."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from contracts.attributes import AccessTier
from services.common.access import ReadPurpose
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.db import PLATFORM, tenant_scope
from services.reporting.api.access_log import record_read
from services.reporting.api.common import PassportReader, not_found, runtime_of, visible
from services.reporting.api.queries import StrictQueryRoute
from services.reporting.domain import tiers
from services.reporting.domain.tiers import LOGGED_TIERS
from services.reporting.store import passports as store

router = APIRouter(prefix="/reporting/v1", tags=["passports"], route_class=StrictQueryRoute)

LINEAGE_READERS = require_roles(*OEM_ROLES, Role.auditor, Role.repairer, Role.regulator, Role.platform_operator)
MAX_DEPTH = 5
MAX_PREDECESSORS = 200
# Why the owner of a second-life passport reads its predecessors: what made it (its status says).
PURPOSE_OF_STATUS = {
    "repurposed": ReadPurpose.repurposing,
    "remanufactured": ReadPurpose.remanufacturing,
    "re-used": ReadPurpose.preparing_for_reuse,
}


class LineageEntry(BaseModel):
    passport_id: str = Field(description="A predecessor passport.")
    depth: int = Field(description="1: a direct predecessor; 2: a predecessor of one; ...")
    successor_id: str = Field(description="The passport (in this lineage) it was continued by.")
    tier: str | None = Field(description="The tier it is shown at (null when not projected yet).")
    passport: dict[str, Any] | None = Field(
        description="Its read model filtered to that tier; null when reporting has not projected it yet."
    )


class Lineage(BaseModel):
    passport_id: str = Field(description="The passport asked about.")
    tenant: str = Field(description="Its owner.")
    status: str | None = Field(description="Its Annex XIII 4(c) status.")
    predecessor_ids: list[str] = Field(description="Its direct predecessors.")
    predecessors: list[LineageEntry] = Field(description="Every predecessor up to `depth`, breadth first.")
    truncated: bool = Field(description="True when more predecessors exist than were returned (depth or count).")


def tier_of(principal: Principal, tenant: str) -> AccessTier:
    """The owner reads its own predecessors whole; authorities at their tier; everyone else (the successor's
    owner, a second-life operator) at the legitimate-interest tier."""
    if principal.role is Role.platform_operator or (
        principal.tenant == tenant and principal.role in OEM_ROLES | {Role.auditor}
    ):
        return AccessTier.owner
    if principal.role is Role.regulator:
        return AccessTier.authorities
    return AccessTier.legitimate_interest


@router.get(
    "/passports/{passport_id}/lineage",
    response_model=Lineage,
    summary="The passports a second-life passport was made from, recursively, at the tier you may read",
    description="For the owner of a repurposed, remanufactured or re-used battery's passport: its predecessors "
    "(breadth first, up to `depth` generations and 200 passports), each filtered to the legitimate-interest tier "
    "(your own predecessors: whole). Reads of other tenants' passports are logged in their access log.",
)
async def lineage(
    passport_id: str,
    request: Request,
    principal: Annotated[Principal, LINEAGE_READERS],
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="Generations to follow.")] = 3,
) -> Lineage:
    pool_of = runtime_of(request)
    # Predecessors belong to other tenants: the route decides per passport what the caller sees (tiers below).
    with tenant_scope(PLATFORM):
        pool = pool_of.pool
        root = await store.current(pool, passport_id)
        if root is None or not visible(principal, root["tenant"]):
            raise not_found(passport_id)
        state = root["state"]
        purpose = PURPOSE_OF_STATUS.get(str(state.get("status")))
        reader = PassportReader(principal, purpose, f"lineage of {passport_id}")
        entries: list[LineageEntry] = []
        seen = {passport_id}
        level = [(pid, passport_id) for pid in state.get("predecessor_ids") or []]
        truncated = False
        for generation in range(1, depth + 1):
            level = [(pid, via) for pid, via in level if pid not in seen]
            if not level:
                break
            if len(entries) + len(level) > MAX_PREDECESSORS:
                level, truncated = level[: MAX_PREDECESSORS - len(entries)], True
            seen.update(pid for pid, _ in level)
            found = {s["passport_id"]: s for s in await store.states(pool, [pid for pid, _ in level])}
            next_level: list[tuple[str, str]] = []
            for pid, via in level:
                predecessor = found.get(pid)
                if predecessor is None:
                    entries.append(
                        LineageEntry(passport_id=pid, depth=generation, successor_id=via, tier=None, passport=None)
                    )
                    continue
                tier = tier_of(principal, predecessor["tenant"])
                view = tiers.state_for_tier(predecessor, tier)
                if tier in LOGGED_TIERS:
                    await record_read(
                        pool,
                        reader,
                        passport_id=pid,
                        tenant=predecessor["tenant"],
                        tier=tier,
                        access="lineage",
                        fields=tiers.returned_fields(view),
                    )
                entries.append(
                    LineageEntry(passport_id=pid, depth=generation, successor_id=via, tier=tier.value, passport=view)
                )
                next_level += [(p, pid) for p in predecessor.get("predecessor_ids") or []]
            level = next_level
            if truncated:
                break
        if any(pid not in seen for pid, _ in level):
            truncated = True
    return Lineage(
        passport_id=passport_id,
        tenant=root["tenant"],
        status=state.get("status"),
        predecessor_ids=list(state.get("predecessor_ids") or []),
        predecessors=entries,
        truncated=truncated,
    )
