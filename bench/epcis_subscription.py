"""Capture -> WebSocket subscriber lag of EPCIS subscriptions, for bench/epcis_query.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx


async def subscription_lag(
    base_url: str, keys: dict[str, str], args: Any, say: Callable[[str], None]
) -> dict[str, Any]:
    """The lag figures, or none (said why) when custody serves no named queries yet."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10, headers={"X-API-Key": keys["operator"]}) as http:
        probe = await http.get("/epcis/queries")
    if probe.status_code in (404, 405):
        say(f"==> subscription lag: not measured, custody serves no /epcis/queries (GET answered {probe.status_code})")
        return {}
    say("==> subscription lag: /epcis/queries answers, but this benchmark does not measure it yet")
    return {}
