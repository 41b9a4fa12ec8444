"""Recovery use cases."""

from __future__ import annotations

from contracts.identity import PassportMinted
from services.common.consumer import Inbound, UnitOfWork


async def on_passport_minted(uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
    """Keep each passport's declared composition: the basis of mass-balance attribution."""
    await uow.conn.executemany(
        """INSERT INTO known_passports (passport_id, tenant, battery_identifier, category, static_data, minted_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (passport_id) DO NOTHING""",
        [
            (
                i.payload.passport_id,
                i.payload.tenant,
                i.payload.subject.battery_identifier,
                i.payload.category.value,
                i.payload.static_data.model_dump(mode="json", exclude_none=True),
                i.payload.minted_at,
            )
            for i in uow.each(items)
        ],
    )
