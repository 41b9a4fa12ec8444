"""The `GS1-Signature` header of webhook deliveries. The EPCIS 2.0 REST binding leaves the algorithm to the
implementation (HMAC-SHA256 or JWS, with the subscriber's `signatureToken`); ours is HMAC-SHA256, keyed by the
token's UTF-8 bytes, over the delivery's Unix time in seconds, a dot, and the exact body bytes:

    GS1-Signature: t=<unix seconds>,hmac-sha256=<hex digest of HMAC(token, "<t>." + body)>

A receiver recomputes the digest over the body it received, compares in constant time, and refuses a `t` too far
from its clock (a replayed delivery). A subscription without a token gets no signature header.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "GS1-Signature"
ALGORITHM: Final = "hmac-sha256"


def signature(token: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(token.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},{ALGORITHM}={digest}"


def verify(token: str, header: str, body: bytes, now: float, tolerance_s: float = 300.0) -> bool:
    """What a receiver does with the header: True when it signs `body` with `token` within `tolerance_s` of now."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts[ALGORITHM]
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(token, timestamp, body).rsplit("=", 1)[1]
    return hmac.compare_digest(given, expected)
