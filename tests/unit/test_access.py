"""Per-field access by tier, from the longlist mapping."""

from __future__ import annotations

from bpass.examples import valid_static_data
from contracts.attributes import AccessTier
from contracts.passport_data import BatteryCategory, field_tier
from services.common.access import reader_tier, visible_extensions, visible_static_data
from services.common.auth import Principal, Role


def data() -> dict[str, object]:
    return valid_static_data(BatteryCategory.ev).model_dump(mode="json", exclude_none=True)


def test_public_reader_sees_only_public_fields() -> None:
    visible = visible_static_data(data(), AccessTier.public)
    assert visible
    assert all(field_tier(name) is AccessTier.public for name in visible)
    assert "manufacturer" in visible
    hidden = set(data()) - set(visible)
    assert hidden, "an EV passport has restricted fields"
    assert all(field_tier(name) is not AccessTier.public for name in hidden)


def test_tiers_are_nested() -> None:
    public = set(visible_static_data(data(), AccessTier.public))
    legitimate = set(visible_static_data(data(), AccessTier.legitimate_interest))
    authorities = set(visible_static_data(data(), AccessTier.authorities))
    owner = set(visible_static_data(data(), AccessTier.owner))
    assert public < legitimate <= authorities <= owner
    assert "test_reports_url" in authorities
    assert "test_reports_url" not in legitimate


def test_unknown_fields_are_owner_only() -> None:
    assert "private_oem_note" not in visible_static_data({"private_oem_note": "x"}, AccessTier.authorities)
    assert visible_static_data({"private_oem_note": "x"}, AccessTier.owner) == {"private_oem_note": "x"}


def test_reader_tier_by_role_and_tenant() -> None:
    def p(role: Role, tenant: str | None = None) -> Principal:
        return Principal(tenant=tenant, role=role, key_id="k")

    assert reader_tier(p(Role.oem_user, "acme"), "acme") is AccessTier.owner
    assert reader_tier(p(Role.oem_user, "other"), "acme") is AccessTier.public
    assert reader_tier(p(Role.auditor, "acme"), "acme") is AccessTier.owner
    assert reader_tier(p(Role.regulator), "acme") is AccessTier.authorities
    assert reader_tier(p(Role.recycler), "acme") is AccessTier.public
    assert reader_tier(p(Role.recycler), "acme", purpose="dismantling") is AccessTier.legitimate_interest
    assert reader_tier(p(Role.public), "acme", purpose="curious") is AccessTier.public


def test_extension_fields_private_unless_marked_public() -> None:
    ext = {"cell_supplier": "X", "colour": "blue"}
    assert visible_extensions(ext, {"colour"}, AccessTier.public) == {"colour": "blue"}
    assert visible_extensions(ext, {"colour"}, AccessTier.owner) == ext
