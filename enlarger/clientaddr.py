"""The client's address: the peer, or, from peers in ``ENLARGER_TRUSTED_PROXIES``, the first
untrusted address of ``X-Forwarded-For`` read from the right, so that a client cannot choose the
address it is limited as; IPv6 clients count by their /64 (docs/security.md, "Rate limits in
detail")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

from aiohttp import web

from enlarger.settings import IPNetwork

Address = IPv4Address | IPv6Address
UNKNOWN = "unknown"


def _parse(raw: str) -> Address | None:
    text = raw.strip().strip('"')
    if text.startswith("["):  # [v6]:port
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def _bucket_name(address: Address) -> str:
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(IPv6Network((address, 64), strict=False))
    return str(address)


class ClientAddress:
    """Works out the address a request is limited as."""

    def __init__(self, trusted: Sequence[IPNetwork]) -> None:
        self._trusted = tuple(trusted)

    def trusted(self, address: Address) -> bool:
        return any(address in network for network in self._trusted)

    def trusted_peer(self, request: web.Request) -> bool:
        """The request comes straight from a trusted proxy (whose X-Forwarded-* to believe)."""
        peer = _parse(request.remote or "")
        return peer is not None and self.trusted(peer)

    def of(self, request: web.Request) -> str:
        peer = _parse(request.remote or "")
        if peer is None:
            return UNKNOWN
        forwarded = request.headers.getall("X-Forwarded-For", [])
        return _bucket_name(self.walk(peer, ",".join(forwarded).split(",")))

    def walk(self, peer: Address, hops: Iterable[str]) -> Address:
        """From the peer leftwards through trusted hops; an unreadable entry stops the walk at
        the last hop that could be read (the proxy that passed it on)."""
        client = peer
        for raw in reversed([hop for hop in hops if hop.strip()]):
            if not self.trusted(client):
                break
            hop = _parse(raw)
            if hop is None:
                break
            client = hop
        return client
