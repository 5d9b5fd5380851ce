"""Which addresses Gatehouse may call on a team's behalf: the one check for webhooks and team storage.

A team admin chooses webhook URLs and S3 endpoints, so without a check those calls reach the
deployment's own network (cloud metadata at 169.254.169.254, Redis, PostgreSQL, a private S3). A URL is
checked when it is saved (a clear 400), and the address actually connected to is checked again at
connection time, so a name that resolves to a public address when saved and to a private one later (DNS
rebinding) is refused too. Operators of a private network allow private addresses with a setting.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """A destination that may not be called; ``final`` when waiting will not change that."""

    def __init__(self, message: str, final: bool = True):
        super().__init__(message)
        self.final = final


# Ranges Python's registry tables miss in some releases, listed so the answer does not depend on it.
_NOT_PUBLIC = [
    ipaddress.ip_network(n)
    for n in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "64:ff9b:1::/48", "2001:db8::/32")
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(ip: Address) -> bool:
    """A globally routable unicast address. ``is_global`` follows IANA's special-purpose registries, so it
    covers private, loopback, link-local, carrier-grade NAT (100.64.0.0/10), benchmarking, documentation,
    reserved and unique-local ranges in one list; an IPv6 address embedding an IPv4 one (mapped, 6to4,
    Teredo) is judged by the address it reaches."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    if any(ip in net for net in _NOT_PUBLIC if net.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


def resolve(host: str, port: int, timeout: float) -> list[Address]:
    """Every address ``host`` resolves to, within ``timeout`` (a resolver that hangs must not hold a
    worker or a request thread). The lookup runs in a daemon thread: a pool's threads are joined when the
    process exits, and one stuck lookup held a stopping worker past its grace period."""
    result: list = []

    def lookup() -> None:
        try:
            result.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except (OSError, ValueError, UnicodeError) as exc:
            result.append(exc)

    thread = threading.Thread(target=lookup, name="netguard-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        raise Refused(f"cannot resolve {host} within {timeout:g} s", final=False)
    if isinstance(result[0], Exception):
        raise Refused(f"cannot resolve {host}: {result[0]}", final=False)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in result[0]]


def check_url(url: str, allow_private: bool, timeout: float = 5.0) -> list[Address]:
    """The addresses of an http(s) URL, every one of which may be called (none resolved when private
    addresses are allowed: the caller connects by name); raises Refused."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("not an http(s) URL")
    if parts.username or parts.password:
        raise Refused("a URL may not carry credentials")
    if allow_private:
        return []
    addresses = resolve(parts.hostname, port, timeout)
    for ip in addresses:
        if not is_public(ip):
            raise Refused(f"{parts.hostname} resolves to {ip}, a private address (not globally routable)")
    return addresses


def pinned(url: str, allow_private: bool, timeout: float = 5.0) -> tuple[str, dict, dict]:
    """(URL, headers, httpx extensions) that call ``url`` at an address checked just now: the URL names
    the address, Host and TLS's server name stay the original host (so the certificate is still checked
    against it). The connection cannot be sent elsewhere by a second lookup (DNS rebinding)."""
    addresses = check_url(url, allow_private, timeout)
    if not addresses:
        return url, {}, {}
    parts = urlsplit(url)
    ip = addresses[0]
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    return (
        parts._replace(netloc=netloc).geturl(),
        {"Host": parts.netloc.rsplit("@", 1)[-1]},
        {"sni_hostname": parts.hostname},
    )


def check_peer(sock: socket.socket, allow_private: bool) -> None:
    """After connect, before a byte is sent: the address really connected to (DNS rebinding)."""
    if allow_private:
        return
    ip = ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0])
    if not is_public(ip):
        raise Refused(f"connected to {ip}, a private address (not globally routable)")
