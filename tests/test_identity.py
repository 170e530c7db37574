"""A visitor's address from the connection and the proxy headers, as far as the proxies are trusted."""

from __future__ import annotations

import pytest

from luma_playground._guard.identity import address_layer, client_address

PEER = "10.0.0.2"  # the nearest proxy, as the connection shows it


@pytest.mark.parametrize(
    ("forwarded_for", "trusted", "expected"),
    [
        ([], 0, PEER),
        (["203.0.113.9"], 0, PEER),  # no proxy trusted: the header is only a claim
        (["198.51.100.1, 203.0.113.9"], 0, PEER),
        ([], 1, PEER),  # a trusted hop that wrote nothing: the peer
        (["203.0.113.9"], 1, "203.0.113.9"),
        (["198.51.100.1, 203.0.113.9"], 1, "203.0.113.9"),  # the client's own entry is ignored
        (["1.1.1.1, 2.2.2.2, 3.3.3.3, 203.0.113.9"], 1, "203.0.113.9"),  # spoofed extras
        (["1.1.1.1, 203.0.113.9, 10.0.0.1"], 2, "203.0.113.9"),  # two proxies: the outer one's entry
        (["1.1.1.1", "203.0.113.9, 10.0.0.1"], 2, "203.0.113.9"),  # the header on several lines
        (["203.0.113.9, 10.0.0.1"], 2, "203.0.113.9"),
        (["203.0.113.9"], 2, "203.0.113.9"),  # fewer entries than hops: the first there is
        (["1.1.1.1,,  ,203.0.113.9"], 1, "203.0.113.9"),  # empty entries skipped
    ],
)
def test_x_forwarded_for_is_read_through_the_trusted_hops(
    forwarded_for: list[str], trusted: int, expected: str
) -> None:
    """The entry `trusted` proxies from the right; whatever the client wrote further left is ignored."""
    assert client_address(PEER, forwarded_for, trusted) == expected


@pytest.mark.parametrize(
    ("forwarded", "trusted", "expected"),
    [
        (['for="203.0.113.9";proto=https'], 0, PEER),
        (['for="203.0.113.9";proto=https'], 1, "203.0.113.9"),
        (["for=1.1.1.1, for=203.0.113.9;by=10.0.0.2"], 1, "203.0.113.9"),  # spoofed extra element
        (['For="[2001:db8:cafe::17]:4711"'], 1, "2001:db8:cafe::17"),  # quoted IPv6 with a port
        (["for=203.0.113.9:5555"], 1, "203.0.113.9"),
        (["for=1.1.1.1, for=203.0.113.9, for=10.0.0.1"], 2, "203.0.113.9"),
        (["proto=https;by=10.0.0.2"], 1, "unknown"),  # an element that names no node
        (["for=_hidden"], 1, "_hidden"),  # an obfuscated node stays as the proxy wrote it
    ],
)
def test_the_forwarded_header_is_read_the_same_way(forwarded: list[str], trusted: int, expected: str) -> None:
    """RFC 7239 `for=` nodes count like X-Forwarded-For entries: quotes, brackets and ports off."""
    assert client_address(PEER, [], trusted, forwarded) == expected


def test_x_forwarded_for_wins_over_forwarded() -> None:
    """With both headers the X-Forwarded-For entry counts: a client can add a Forwarded of its own."""
    assert client_address(PEER, ["203.0.113.9"], 1, ["for=198.51.100.7"]) == "203.0.113.9"


def test_no_peer_and_no_header_is_no_address() -> None:
    """Outside a request (or without a peer) there is no address layer at all."""
    assert client_address(None, [], 1) is None
    assert client_address("", [], 0) is None
    assert address_layer(None) is None


@pytest.mark.parametrize(
    ("address", "layer"),
    [
        ("203.0.113.9", "address:203.0.113.9"),
        ("2001:db8:cafe:1::17", "address:2001:db8:cafe:1::/64"),
        ("2001:db8:cafe:1:ffff::1", "address:2001:db8:cafe:1::/64"),  # the same subscriber's /64
        ("[2001:db8:cafe:1::17]", "address:2001:db8:cafe:1::/64"),
        ("::ffff:203.0.113.9", "address:203.0.113.9"),  # an IPv4 client seen through IPv6
        ("unknown", "address:unknown"),
        ("x" * 500, "address:" + "x" * 64),  # garbage is kept short
    ],
)
def test_an_address_gives_one_layer_per_subscriber(address: str, layer: str) -> None:
    """IPv4 counts per address, IPv6 per /64, mapped IPv4 as IPv4; what is no address is kept as written."""
    assert address_layer(address) == layer


def test_garbage_in_the_trusted_entry_still_gives_one_stable_layer() -> None:
    """An entry that is no address is one visitor as written, not an error and not the peer."""
    garbage = client_address(PEER, ["1.1.1.1, not-an-address!!"], 1)
    assert garbage == "not-an-address!!"
    assert address_layer(garbage) == address_layer(client_address(PEER, ["9.9.9.9, not-an-address!!"], 1))
