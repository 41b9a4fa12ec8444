"""Where a webhook may be sent (`dest`): no request forgery towards the platform's own network.

`https` only, to hosts whose every address is public. With `epcis_webhook_allow_local` (the local stack and the
tests) plain `http` is allowed to loopback hosts, and loopback and private addresses are allowed; link-local
addresses (cloud metadata services among them), multicast, unspecified and reserved ones never are. The check is
made when the subscription is created and again before every attempt, and the attempt connects to the address
that was checked (the name is not resolved a second time by the HTTP client: no DNS rebinding in between).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit

MAX_DEST_LENGTH: Final = 2000
RESOLVE_TIMEOUT_S: Final = 5.0
LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(Exception):
    """A `dest` the platform will not send to; `reason` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Target:
    """A checked destination: the URL as given, and the address to connect to."""

    url: str
    host: str
    address: IpAddress


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback_host(host: str) -> bool:
    literal = _literal(host)
    return literal.is_loopback if literal is not None else host.lower().rstrip(".") in LOOPBACK_NAMES


def check_url(dest: str, *, allow_local: bool) -> SplitResult:
    """The parts of `dest`, or DestinationRefused naming the rule it breaks (before any name is resolved)."""
    if len(dest) > MAX_DEST_LENGTH:
        raise DestinationRefused("dest_too_long", f"dest is longer than {MAX_DEST_LENGTH} characters.")
    try:
        parts = urlsplit(dest)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused("dest_invalid", f"dest is not a URL: {exc}.") from exc
    host = parts.hostname
    if not host or parts.scheme not in {"https", "http"}:
        raise DestinationRefused("dest_invalid", "dest must be an absolute https URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused(
            "dest_credentials", "dest may not carry credentials; authenticate deliveries by their GS1-Signature."
        )
    if parts.fragment:
        raise DestinationRefused("dest_invalid", "dest may not have a fragment.")
    if parts.scheme == "http" and not (allow_local and _is_loopback_host(host)):
        raise DestinationRefused(
            "dest_not_https",
            "dest must use https (plain http is accepted only for a loopback receiver where the platform is set up "
            "to allow local destinations).",
        )
    if port == 0:
        raise DestinationRefused("dest_invalid", "dest names port 0.")
    return parts


def address_allowed(address: IpAddress, *, allow_local: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:  # before `is_reserved`: ::1 lies in IPv6's reserved ::/8
        return allow_local
    if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        return False
    if address.is_private:
        return allow_local
    return address.is_global


async def resolve(dest: str, *, allow_local: bool) -> Target:
    """Check `dest` and resolve its host: every address must be allowed (a name resolving to one public and one
    private address is refused); the first is the one to connect to."""
    parts = check_url(dest, allow_local=allow_local)
    host = parts.hostname or ""
    literal = _literal(host)
    if literal is not None:
        addresses: list[IpAddress] = [literal]
    else:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
            )
        except (TimeoutError, OSError) as exc:
            raise DestinationRefused("dest_unresolvable", f"dest's host {host} does not resolve: {exc}.") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses:
            raise DestinationRefused("dest_unresolvable", f"dest's host {host} has no address.")
    refused = [a for a in addresses if not address_allowed(a, allow_local=allow_local)]
    if refused:
        raise DestinationRefused(
            "dest_address_refused",
            f"dest's host {host} is (or resolves to) {refused[0]}, a loopback, private, link-local or reserved "
            "address, which webhooks are not sent to.",
        )
    return Target(url=dest, host=host, address=addresses[0])
