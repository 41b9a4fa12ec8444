"""API keys over HTTP: an OEM admin manages its own tenant's keys (OEM users and admins, the auditors it grants);
the platform operator manages every key (handlers, authorities, other operators, any tenant).

Keys live hashed in the keyring file the services share (`services.common.auth`); the key itself is answered
once, when it is created. Another tenant's key is a 404, never a hint that it exists.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.errors import ValidationFailed, Violation
from contracts.topics import TENANT_NAME
from services.common.auth import (
    TENANT_BOUND_ROLES,
    KeyringBusy,
    Principal,
    Role,
    create_key,
    list_keys,
    require_roles,
    revoke_key_entry,
)
from services.identity.api.common import DEFAULT_BODY_LIMIT, ERROR_RESPONSES, limited_route, runtime_of, tenant_of

router = APIRouter(
    prefix="/identity/v1",
    tags=["api keys"],
    route_class=limited_route(DEFAULT_BODY_LIMIT),
    responses={**ERROR_RESPONSES, 503: {"description": "`keyring_busy`: the keyring stayed locked; retry."}},
)

KEY_ADMINS = require_roles(Role.oem_admin, Role.platform_operator)
# What an OEM admin may grant: keys of its own tenant for its own people and systems, and its auditors.
OEM_GRANTABLE = TENANT_BOUND_ROLES
# Cross-tenant roles whose keys name no tenant (a tenant would confine them to one).
TENANTLESS_ROLES = frozenset({Role.regulator, Role.platform_operator})
AUDITOR_MAX_DAYS = 366
MAX_LIST = 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


KeyIdPath = Annotated[
    str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="The key's id (`key_…`).")
]


class KeyStatus(StrEnum):
    active = "active"
    expired = "expired"
    revoked = "revoked"


class ApiKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Field(
        description="What the key may do. OEM admins grant oem_user, oem_admin and auditor; the platform operator "
        "any role but public.",
        examples=["oem_user"],
    )
    tenant: str | None = Field(
        default=None,
        description="Whom the key acts for: the OEM tenant (OEM and auditor keys; an OEM admin's own, the default), "
        "the handler id (carrier, collector, recycler, refiner, repairer keys). None for regulators and operators.",
        examples=["acme"],
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description=f"When the key stops working. Required for auditors, at most {AUDITOR_MAX_DAYS} days ahead.",
        examples=["2026-12-31T23:59:59Z"],
    )
    label: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="What the key is for (a system, a person, an audit engagement).",
        examples=["MES line 3"],
    )


class ApiKeyView(BaseModel):
    key_id: str = Field(description="The key's id (not the key).", examples=["key_3f9a0c1b2d4e"])
    tenant: str | None = Field(description="Whom the key acts for.", examples=["acme"])
    role: Role = Field(description="What the key may do.", examples=["auditor"])
    label: str | None = Field(description="What the key is for.", examples=["Annual audit 2026"])
    expires_at: datetime | None = Field(description="When it stops working; None: never.")
    created_at: datetime | None = Field(description="When it was created (None for keys older than this record).")
    created_by: str | None = Field(description="Who created it (`<role>:<tenant>:<key id>`, or `cli`).")
    revoked: bool = Field(description="Whether it was revoked.")
    revoked_at: datetime | None = Field(description="When it was revoked.")
    revoked_by: str | None = Field(description="Who revoked it.")
    status: KeyStatus = Field(description="active, expired or revoked (now).")


class CreatedApiKey(ApiKeyView):
    key: str = Field(description="The API key: shown once, only its hash is stored. Send it as X-API-Key.")


class ApiKeyList(BaseModel):
    keys: list[ApiKeyView] = Field(description="Keys you manage, newest first.")
    total: int = Field(description="How many keys match (the list holds at most `limit`).")


# --- rules (no I/O) -----------------------------------------------------------------------------------------


def manages(principal: Principal, entry: dict[str, Any]) -> bool:
    """The platform operator manages every key; an OEM admin its own tenant's OEM and auditor keys."""
    if principal.role is Role.platform_operator:
        return True
    return (
        principal.role is Role.oem_admin
        and principal.tenant is not None
        and entry.get("tenant") == principal.tenant
        and entry.get("role") in OEM_GRANTABLE
    )


def _refusal(code: int, field: str, reason: str, message: str) -> HTTPException:
    return HTTPException(code, {"reason": reason, "field": field, "message": message})


def tenant_not_found(tenant: str) -> HTTPException:
    return _refusal(404, "tenant", "tenant_not_found", f"No tenant {tenant[:100]} is visible to you.")


def key_tenant(principal: Principal, request: ApiKeyRequest, now: datetime) -> str | None:
    """The tenant of the key `principal` asks for; refusals name the field and a stable reason."""
    if request.role is Role.public:
        raise ValidationFailed(
            [Violation(field="role", reason="role_not_grantable", message="Anonymous callers need no key.")]
        )
    tenant = request.tenant
    if principal.role is Role.oem_admin:
        own = tenant_of(principal)
        if request.role not in OEM_GRANTABLE:
            raise _refusal(
                403,
                "role",
                "role_not_grantable",
                f"An OEM admin grants oem_user, oem_admin and auditor keys, not {request.role.value}; the platform "
                "operator creates the others.",
            )
        if tenant is not None and tenant != own:
            raise tenant_not_found(tenant)
        tenant = own
    violations: list[Violation] = []
    if request.role in TENANTLESS_ROLES and tenant is not None:
        violations.append(
            Violation(
                field="tenant",
                reason="tenant_not_allowed",
                message=f"A {request.role.value} key acts across tenants and names none.",
            )
        )
    elif request.role not in TENANTLESS_ROLES and tenant is None:
        violations.append(
            Violation(
                field="tenant",
                reason="tenant_required",
                message=f"A {request.role.value} key names its tenant (for handlers: the handler id).",
            )
        )
    elif tenant is not None and not TENANT_NAME.match(tenant):
        violations.append(
            Violation(field="tenant", reason="invalid_tenant", message="A tenant is 2 to 63 of a-z, 0-9 and '-'.")
        )
    expires_at = request.expires_at
    if expires_at is not None and expires_at <= now:
        violations.append(
            Violation(field="expires_at", reason="expires_at_in_past", message="The key would never work.")
        )
    if request.role is Role.auditor:
        if expires_at is None:
            violations.append(
                Violation(
                    field="expires_at",
                    reason="expires_at_required",
                    message=f"Auditor keys are time-bound: give expires_at, at most {AUDITOR_MAX_DAYS} days ahead.",
                )
            )
        elif expires_at > now + timedelta(days=AUDITOR_MAX_DAYS):
            violations.append(
                Violation(
                    field="expires_at",
                    reason="expires_at_too_far",
                    message=f"Auditor keys expire at most {AUDITOR_MAX_DAYS} days ahead; grant a new one then.",
                )
            )
    if request.label is not None and not request.label.isprintable():
        violations.append(
            Violation(field="label", reason="invalid_label", message="A label has printable characters only.")
        )
    if violations:
        raise ValidationFailed(violations)
    return tenant


def key_status(entry: dict[str, Any], now: datetime) -> KeyStatus:
    if entry.get("revoked"):
        return KeyStatus.revoked
    expires = entry.get("expires_at")
    if expires and datetime.fromisoformat(expires) <= now:
        return KeyStatus.expired
    return KeyStatus.active


def view_of(entry: dict[str, Any], now: datetime) -> ApiKeyView:
    return ApiKeyView.model_validate({**entry, "status": key_status(entry, now)})


def key_not_found(key_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        {"reason": "api_key_not_found", "field": "key_id", "message": f"No API key {key_id} is visible to you."},
    )


# --- routes ---------------------------------------------------------------------------------------------------


def _keyring_path(request: Request) -> Path:
    return runtime_of(request).settings.api_keys_file


async def _off_loop(work: Any, *args: Any, **kwargs: Any) -> Any:
    """Keyring writes take a file lock (bounded wait): off the event loop."""
    try:
        return await asyncio.to_thread(work, *args, **kwargs)
    except KeyringBusy:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            {"reason": "keyring_busy", "message": "Another change of the keyring took too long; retry."},
            headers={"Retry-After": "1"},
        ) from None


@router.post(
    "/api-keys",
    response_model=CreatedApiKey,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (the key is answered once; only its hash is stored)",
    description="OEM admins create keys of their own tenant: `oem_user`, `oem_admin` and `auditor` (auditors are "
    f"read-only and time-bound: `expires_at` required, at most {AUDITOR_MAX_DAYS} days ahead). The platform "
    "operator creates any key: handler keys (`tenant` = the handler id), regulators, operators, any tenant's.",
    responses={
        403: {"description": "`role_not_allowed` (only OEM admins and the operator), `role_not_grantable`."},
        404: {"description": "`tenant_not_found`: an OEM admin named another tenant."},
        422: {
            "description": "`tenant_required`, `tenant_not_allowed`, `invalid_tenant`, `expires_at_required`, "
            "`expires_at_too_far`, `expires_at_in_past`, `role_not_grantable` (public), `invalid_label`."
        },
    },
)
async def create_api_key(
    body: ApiKeyRequest, request: Request, response: Response, principal: Annotated[Principal, KEY_ADMINS]
) -> CreatedApiKey:
    now = utc_now()
    tenant = key_tenant(principal, body, now)
    entry, key = await _off_loop(
        create_key,
        _keyring_path(request),
        tenant=tenant,
        role=body.role,
        expires_at=body.expires_at,
        created_by=principal.name,
        label=body.label,
        now=now,
    )
    response.headers["Location"] = f"/identity/v1/api-keys/{entry['key_id']}"
    return CreatedApiKey.model_validate({**entry, "status": key_status(entry, now), "key": key})


@router.get("/api-keys", response_model=ApiKeyList, summary="The API keys you manage (never a key or its hash)")
async def list_api_keys(
    request: Request,
    principal: Annotated[Principal, KEY_ADMINS],
    role: Annotated[Role | None, Query(description="Only keys of this role.")] = None,
    tenant: Annotated[
        str | None, Query(max_length=63, description="Only keys of this tenant (OEM admins: their own).")
    ] = None,
    key_status_: Annotated[KeyStatus | None, Query(alias="status", description="Only keys in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="At most this many keys.")] = 200,
) -> ApiKeyList:
    if principal.role is Role.oem_admin and tenant is not None and tenant != tenant_of(principal):
        raise tenant_not_found(tenant)
    now = utc_now()
    entries = await asyncio.to_thread(list_keys, _keyring_path(request))
    views = [
        view_of(e, now)
        for e in reversed(entries)
        if manages(principal, e)
        and (role is None or e.get("role") == role.value)
        and (tenant is None or e.get("tenant") == tenant)
    ]
    if key_status_ is not None:
        views = [v for v in views if v.status is key_status_]
    return ApiKeyList(keys=views[:limit], total=len(views))


@router.get("/api-keys/{key_id}", response_model=ApiKeyView, summary="One API key you manage")
async def read_api_key(key_id: KeyIdPath, request: Request, principal: Annotated[Principal, KEY_ADMINS]) -> ApiKeyView:
    entries = await asyncio.to_thread(list_keys, _keyring_path(request))
    for entry in entries:
        if entry["key_id"] == key_id and manages(principal, entry):
            return view_of(entry, utc_now())
    raise key_not_found(key_id)


@router.post(
    "/api-keys/{key_id}/revoke",
    response_model=ApiKeyView,
    summary="Revoke an API key: every service refuses it from its next request on",
    description="The key stays listed (revoked, when and by whom) for the audit trail. Revoking it again changes "
    "nothing.",
)
async def revoke_api_key(
    key_id: KeyIdPath, request: Request, principal: Annotated[Principal, KEY_ADMINS]
) -> ApiKeyView:
    now = utc_now()
    entry = await _off_loop(
        revoke_key_entry,
        _keyring_path(request),
        key_id,
        revoked_by=principal.name,
        visible=lambda e: manages(principal, e),
        now=now,
    )
    if entry is None:
        raise key_not_found(key_id)
    return view_of(entry, now)
