"""The one check of the addresses Gatehouse calls on a team's behalf (webhooks and team storage): the
second hardening round, items 6 and 8."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from store import netguard


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT: the webhook filter let it through
        "100.127.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "198.18.0.1",  # benchmarking
        "192.0.2.1",  # documentation
        "240.0.0.1",  # reserved
        "224.0.0.1",  # multicast
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:100.64.0.1",
        "2002:0a00:0001::1",  # 6to4 of 10.0.0.1
        "2001:db8::1",  # documentation
        "64:ff9b:1::a00:1",  # local-use NAT64
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not netguard.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert netguard.is_public(ipaddress.ip_address(address))


def test_a_webhook_is_sent_to_the_address_that_was_checked(monkeypatch):
    """DNS rebinding: the name is resolved once, checked, and the connection goes to that address (Host
    and TLS's server name stay the name), so a second lookup answering 127.0.0.1 is never made."""
    answers = iter(["93.184.216.34", "127.0.0.1"])

    def lookup(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(netguard.socket, "getaddrinfo", lookup)
    url, headers, extensions = netguard.pinned("https://hooks.example.com:8443/h?x=1", allow_private=False)
    assert url == "https://93.184.216.34:8443/h?x=1"
    assert headers == {"Host": "hooks.example.com:8443"} and extensions == {
        "sni_hostname": "hooks.example.com"
    }
    with pytest.raises(netguard.Refused, match="private address"):
        netguard.pinned("https://hooks.example.com/h", allow_private=False)  # the rebound answer


def test_a_connected_socket_is_checked_by_its_peer():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    sock = socket.create_connection(server.getsockname())
    try:
        with pytest.raises(netguard.Refused, match="127.0.0.1"):
            netguard.check_peer(sock, allow_private=False)
        netguard.check_peer(sock, allow_private=True)
    finally:
        sock.close()
        server.close()


def test_a_webhook_to_carrier_grade_nat_is_refused_without_connecting(
    api, world, capgo, settings, redis_conn
):
    from api.secret_key import secret_key
    from store.models import WebhookDelivery
    from tests.test_capgo import PKG
    from tests.test_webhooks import subscribe
    from worker.webhooks import deliver_due

    subscribe(api, world, "http://100.64.0.1:8080/hook")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production"})
    assert deliver_due(secret_key(settings, redis_conn), settings) == 1
    (delivery,) = WebhookDelivery.select()
    assert delivery.state == "failed" and "100.64.0.1, a private address" in delivery.log[0]["error"]
