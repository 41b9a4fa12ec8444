"""The simulator's treatment batches pass recovery's rules, conservation included: its lots never hold more of a
material than the passports of the batteries fed declare (the end check needs every recycled battery to cease)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bpass.simulate import Battery, mint_item, model_static, population, treatment_batch
from contracts.errors import ValidationFailed
from contracts.recovery import RecoveredMaterial
from services.recovery.domain.passports import InputReference, KnownPassport
from services.recovery.domain.treatment import assess_treatment_batch

COMPLETED = datetime(2026, 5, 1, 8, tzinfo=UTC)
Group = tuple[list[tuple[Battery, str]], list[KnownPassport]]


def batches(run: str, n: int, size: int) -> list[Group]:
    """The recycled batteries of a population grouped by chemistry in batches of `size`, as the simulator does."""
    groups: dict[str, list[tuple[Battery, str, KnownPassport]]] = {}
    for battery in population(run, n, 7):
        if battery.target_stage != "recycled":
            continue
        pid = f"urn:uuid:00000000-0000-7000-8000-{battery.index:012d}"
        static = {**model_static(battery.model), **mint_item(battery, run)["static_data"]}
        known = KnownPassport(pid, "t", battery.identifier, "battery", static)
        groups.setdefault(battery.model.recovery_chemistry, []).append((battery, pid, known))
    out: list[Group] = []
    for members in groups.values():
        for offset in range(0, len(members), size):
            part = members[offset : offset + size]
            out.append(([(b, pid) for b, pid, _ in part], [k for _, _, k in part]))
    return out


@pytest.mark.parametrize("size", [1, 7, 40])
def test_every_simulated_treatment_batch_is_accepted_and_within_the_declared_content(size: int) -> None:
    groups = batches("mb", 400, size)
    assert len(groups) >= 3
    for number, (members, known) in enumerate(groups, 1):
        tb = treatment_batch("mb", number, members, COMPLETED)
        try:
            assessed = assess_treatment_batch(tb, [InputReference(passport=k) for k in known])
        except ValidationFailed as refused:
            pytest.fail(f"{tb.batch_id} refused: {[f'{v.reason}: {v.message}' for v in refused.violations]}")
        declared: dict[RecoveredMaterial, Decimal] = {}
        claimed: dict[RecoveredMaterial, Decimal] = {}
        for item in assessed.inputs:
            for content in item.contents:
                declared[content.material] = declared.get(content.material, Decimal(0)) + content.declared_kg
        for lot in assessed.lots:
            for material, kg in lot.material_kg.items():
                claimed[material] = claimed.get(material, Decimal(0)) + kg
        # below the declared content itself, not only below the assay tolerance on top of it
        assert all(kg <= declared[m] for m, kg in claimed.items()), (tb.batch_id, claimed, declared)
        assert claimed, tb.batch_id
        assert "recovered_above_declared" not in {f.reason for f in assessed.flags}
