"""Who a visitor is, from what a client cannot choose: a login, else the address it calls from.

The address is the peer of the connection, or, behind `trusted` reverse proxies, the entry of
`X-Forwarded-For` the nearest trusted proxy wrote: entries further left are whatever the client
sent. A proxy that writes only the standard `Forwarded` header (RFC 7239) is read the same way
when no `X-Forwarded-For` came at all. uvicorn would rewrite the peer from that header for
loopback peers (and an MCP call arrives from loopback carrying its caller's headers), so
`launch_options` turns that off and this module applies the configured hop count alone.
An MCP call's peer is Gradio's own client, never the caller: such a call has an address only
through trusted proxies, and is named by its login, else its key, else `MCP_VISITOR`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable

__all__ = [
    "LOGIN_PREFIXES",
    "MCP_MARK",
    "MCP_VISITOR",
    "PROXY_HEADERS",
    "address_layer",
    "client_address",
    "keep_raw_peer",
    "key_owner",
]

#: Headers a reverse proxy adds; their presence says the app is reached through one.
PROXY_HEADERS = ("x-forwarded-for", "forwarded")
#: How a signed-in visitor is named as an owner: `user:<login>` or `hf:<Hugging Face account>`.
LOGIN_PREFIXES = ("user:", "hf:")
#: The header (name, value) Gradio's MCP server puts on every tool call it forwards to an
#: endpoint. It replaces whatever the MCP caller sent under that name; a direct caller who sends
#: it only makes itself anonymous, never someone else.
MCP_MARK = ("x-gradio-user", "mcp")
#: The one owner every MCP caller without a login or a key of its own shares: Gradio forwards
#: all their calls through one client (one session), and no header they choose can tell them
#: apart without letting a forger pick a fresh identity.
MCP_VISITOR = "mcp"


def key_owner(fingerprint: str) -> str:
    """The owner name of an MCP caller known only by the key it sent (`key:<fingerprint>`)."""
    return f"key:{fingerprint}"


def keep_raw_peer() -> None:
    """Keep uvicorn from replacing the connection's peer with a header's claim (before launch)."""
    os.environ["FORWARDED_ALLOW_IPS"] = ""


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: int, forwarded: Iterable[str] = ()
) -> str | None:
    """The caller's address: the peer, or the entry `trusted` proxies from the right.

    `forwarded_for` are the `X-Forwarded-For` values in the order they came, `forwarded` the
    `Forwarded` ones (read only when there is no `X-Forwarded-For`).
    """
    if trusted <= 0:
        return peer or None
    entries = [_bare(part) for value in forwarded_for for part in value.split(",") if part.strip()]
    if not entries:
        entries = [_forwarded_node(part) for value in forwarded for part in value.split(",") if part.strip()]
    if not entries:
        return peer or None
    # Each trusted proxy appends the address it saw; the one `trusted` hops in is the client's.
    return entries[max(0, len(entries) - trusted)]


def _forwarded_node(element: str) -> str:
    """The `for=` node of one `Forwarded` element (`unknown` when it names none)."""
    for pair in element.split(";"):
        name, _, value = pair.strip().partition("=")
        if name.strip().lower() == "for":
            return _bare(value)
    return "unknown"


def _bare(entry: str) -> str:
    """An entry as an address: quotes, brackets and a port taken off (`"[2001:db8::1]:80"`)."""
    entry = entry.strip().strip('"').strip()
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    if entry.count(":") == 1:  # IPv4 (or a name) with a port; bare IPv6 has several colons
        return entry.partition(":")[0]
    return entry


def address_layer(address: str | None) -> str | None:
    """The identity an address gives, for limits: an IPv6 address counts by its /64 network.

    One subscriber gets a whole /64, so its addresses are one visitor; anything that is not
    an address (a proxy's `unknown`) is kept as written.
    """
    if not address:
        return None
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return f"address:{address[:64]}"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return f"address:{parsed.ipv4_mapped}"
        return f"address:{ipaddress.ip_network(f'{parsed}/64', strict=False)}"
    return f"address:{parsed}"
