"""A passport's state as stored and published: JSON text, with its static data apart.

`passport_view.state_json` holds the state without `static_data` and `passport_view.static_json` holds that (about
70 % of a state, changed only by minting and amendments), so a lifecycle fact neither re-encodes nor rewrites it:
the published JSON is the two spliced together. Rows written before migration 003 have their whole state in the
jsonb `state` column instead (read as they are, moved when their passport next changes).
"""

from __future__ import annotations

from typing import Any

import orjson

STATIC = "static_data"
_STATIC_KEY = b',"static_data":'


def load(state: str | bytes, static: str | bytes | None) -> dict[str, Any]:
    """The state dict from its two stored parts."""
    out: dict[str, Any] = orjson.loads(state)
    if static is not None:
        out[STATIC] = orjson.loads(static)
    return out


def from_columns(legacy: dict[str, Any] | None, rest: str | None, static: str | None) -> dict[str, Any]:
    """The state dict from a row's `state` (jsonb, before migration 003), `state_json` and `static_json`."""
    if rest is not None:
        return load(rest, static)
    if legacy is None:
        raise ValueError("a passport row without a state")
    return legacy


def dump_static(state: dict[str, Any]) -> bytes | None:
    return orjson.dumps(state[STATIC]) if STATIC in state else None


def dump_rest(state: dict[str, Any]) -> bytes:
    """The state without its static data."""
    if STATIC not in state:
        return orjson.dumps(state)
    return orjson.dumps({key: value for key, value in state.items() if key != STATIC})


def join(rest: bytes, static: bytes | None) -> bytes:
    """The whole state's JSON from `dump_rest` and `dump_static` output (static data last)."""
    if static is None:
        return rest
    if rest == b"{}":
        return b'{"static_data":' + static + b"}"
    return rest[:-1] + _STATIC_KEY + static + b"}"
