"""Who a request came from when proxies stand in front: one rule for the read service and the write API.

A proxy's X-Forwarded-For is believed only when the peer is one of GATEHOUSE_TRUSTED_PROXIES and
GATEHOUSE_FORWARDED_FOR_HOPS says proxies are there; then the client is the address the outermost
trusted proxy saw (``hops``-th from the right). Anyone else's header is the client's own text.
The scheme (X-Forwarded-Proto) follows the same list: gunicorn and uvicorn apply it
(``Settings.forwarded_allow_ips``), so ``req.prefix`` is https behind a TLS edge.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def networks(trusted: str) -> tuple[Network, ...]:
    """The networks of a comma-separated list of addresses and CIDR networks (bad entries are skipped)."""
    found = []
    for item in trusted.split(","):
        try:
            found.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            continue
    return tuple(found)


def is_trusted(peer: str, trusted: str) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks(trusted))


@dataclass(frozen=True)
class Proxies:
    """``hops`` proxies stand in front, at the addresses or networks listed in ``trusted``."""

    hops: int = 0
    trusted: str = "127.0.0.1,::1"

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client's address: the peer's, or behind trusted proxies, what the outermost one saw.

        The read service's peer arrives already resolved by uvicorn's proxy middleware (the rightmost
        untrusted address), which is not itself trusted, so the rule gives the same answer on both services.
        """
        if self.hops > 0 and forwarded_for and is_trusted(peer, self.trusted):
            chain = [a.strip() for a in forwarded_for.split(",") if a.strip()]
            if len(chain) >= self.hops:
                return chain[-self.hops]
        return peer
