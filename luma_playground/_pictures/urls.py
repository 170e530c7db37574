"""Image URLs: checked the same way on every way in, and fetched by the playground itself.

A URL given for an image is never passed on as it is: its host is normalised the way resolvers
read it (IDNA, full-width forms, ideographic full stops, numeric IPv4 spellings), every address
the name resolves to must be public, and the picture is downloaded here with the checked address
pinned (no second DNS answer can swap it), each redirect checked again, under a size and a time
cap. What comes back is a local file, checked and uploaded like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import idna

from .._errors import InvalidRequest

__all__ = [
    "FETCH_MAX_BYTES",
    "FETCH_MAX_REDIRECTS",
    "FETCH_TIMEOUT",
    "IPAddress",
    "Resolver",
    "check_image_url",
    "fetch_folder",
    "fetch_image",
    "is_public_address",
    "resolve_public",
]

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Resolves (host, port) to addresses; the default asks the system through `loop.getaddrinfo`.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
AddressCheck = Callable[[IPAddress], bool]

#: The upload limit WaveSpeed documents for images, enforced while the bytes arrive.
FETCH_MAX_BYTES = 20 * 1024 * 1024
#: Seconds for the whole fetch: name resolution, every redirect, the last byte.
FETCH_TIMEOUT = 30.0
FETCH_MAX_REDIRECTS = 3

_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_ASCII_HOST = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_LOCAL_NAMES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")
#: Prefixes whose addresses carry an IPv4 address inside (NAT64 well-known and local-use).
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IMAGE_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
}
_NOT_PUBLIC = (
    "The image URL points to an address that is not public (private, loopback, link-local, "
    "multicast or reserved); use a public URL or upload the file."
)


def _refuse(message: str) -> InvalidRequest:
    return InvalidRequest(message, field="image")


# -- addresses ------------------------------------------------------------------------------


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for by translation or tunnelling."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in network for network in _NAT64):
        return [low32]
    if int(address) >> 32 == 0:  # IPv4-compatible (::a.b.c.d), deprecated but still routed by some
        return [low32]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    return []


def is_public_address(address: IPAddress) -> bool:
    """True for an address on the public Internet, and for no form that reaches anything else."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(address.compressed.partition("%")[0])  # no scope id
        embedded = _embedded_ipv4(address)
        if embedded:  # a translated or tunnelled form reaches what it carries
            return all(is_public_address(inner) for inner in embedded)
    # `is_global` alone lets multicast (224.0.0.1, ff02::1) and NAT64 forms through.
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _ip_literal(host: str) -> IPAddress | None:
    """The address `host` stands for when it is an IP literal, in any form a resolver reads."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # `127.1`, `2130706433`, `0x7f.1`, `017700000001`: the C resolver reads these as IPv4.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


# -- the URL --------------------------------------------------------------------------------


def _normal_host(raw: str) -> str:
    """The host as a resolver reads it: full-width forms folded, IDNA-encoded, lower case."""
    host = unicodedata.normalize("NFKC", raw).translate(_FULL_STOPS).lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii").lower().rstrip(".")
    except (idna.IDNAError, UnicodeError):
        raise _refuse("The image URL's host name is not a valid domain name.") from None


def _split(url: str) -> tuple[str, str, int, str]:
    """Scheme, normalised host, port and the rest of a URL; `InvalidRequest` for forbidden forms."""
    if any(char in url for char in "\\ ") or not url.isprintable():
        raise _refuse("The image URL contains a backslash, a space or a control character.")
    try:
        parts = urlsplit(url)
        raw_host, port = parts.hostname or "", parts.port
    except ValueError:  # a port that is not a number, or a host that folds into `/?#@:`
        raise _refuse("The image URL's host or port is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise _refuse("An image URL must start with http:// or https://.")
    if "@" in parts.netloc:
        raise _refuse("An image URL cannot carry a user name or password; use a public URL.")
    if "%" in raw_host:
        raise _refuse("The image URL's host must be written out, not percent-encoded; use a public URL.")
    host = _normal_host(raw_host)
    if not host:
        raise _refuse("The image URL has no host name.")
    if port == 0:
        raise _refuse("The image URL's host or port is not valid.")
    default = 443 if scheme == "https" else 80
    rest = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return scheme, host, port or default, rest


def _check_host(host: str) -> None:
    if host == "localhost" or host.endswith(_LOCAL_NAMES):
        raise _refuse("The image URL must point to a public host, not this machine or its network.")
    address = _ip_literal(host)
    if address is not None:
        if not is_public_address(address):
            raise _refuse(_NOT_PUBLIC)
    elif not _ASCII_HOST.match(host):
        raise _refuse("The image URL's host name is not a valid domain name.")


def _join(scheme: str, host: str, port: int, rest: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{shown}{'' if port == default else f':{port}'}{rest}"


def check_image_url(url: str) -> str:
    """The URL, normalised, if its form may point to a public image; `InvalidRequest` otherwise.

    No network is used: a host name is checked again, once resolved, by `resolve_public`.
    """
    if not isinstance(url, str):
        raise _refuse("An image URL must start with http:// or https://.")
    scheme, host, port, rest = _split(url.strip())
    _check_host(host)
    return _join(scheme, host, port, rest)


# -- resolving ------------------------------------------------------------------------------


async def _getaddrinfo(host: str, port: int) -> list[str]:
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in found]


async def resolve_public(
    host: str,
    port: int,
    *,
    resolver: Resolver | None = None,
    is_allowed: AddressCheck = is_public_address,
) -> list[IPAddress]:
    """Every address `host` resolves to, if all are allowed (public); `InvalidRequest` otherwise."""
    literal = _ip_literal(host)
    if literal is not None:
        names = [str(literal)]
    else:
        try:
            names = list(await (resolver or _getaddrinfo)(host, port))
        except (OSError, UnicodeError):
            names = []
    addresses: list[IPAddress] = []
    for name in dict.fromkeys(names):
        try:
            addresses.append(ipaddress.ip_address(name.partition("%")[0]))
        except ValueError:
            raise _refuse(_NOT_PUBLIC) from None
    if not addresses:
        raise _refuse("The image URL's host name could not be found; check the address.")
    if not all(is_allowed(address) for address in addresses):
        raise _refuse(_NOT_PUBLIC)
    return addresses


# -- fetching -------------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


async def fetch_image(
    url: str,
    dest_dir: Path,
    *,
    max_bytes: int = FETCH_MAX_BYTES,
    timeout: float = FETCH_TIMEOUT,
    max_redirects: int = FETCH_MAX_REDIRECTS,
    resolver: Resolver | None = None,
    is_allowed: AddressCheck = is_public_address,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Path:
    """Download the image at `url` into `dest_dir`, every hop checked and pinned; its path.

    `resolver` and `is_allowed` exist for tests (a name for a loopback server); the defaults
    are the system's resolver and public addresses only. Errors are one `InvalidRequest`.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    limit = f"{max_bytes / (1024 * 1024):.1f} MB"
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False) as client,
        ):
            return await _follow(
                client, check_image_url(url), dest_dir, max_bytes, max_redirects, resolver, is_allowed
            )
    except (TimeoutError, httpx.TimeoutException):
        raise _refuse(
            f"The image at that address took more than {timeout:g} s to download; "
            "download it and upload the file instead."
        ) from None
    except _TooLarge:
        raise _refuse(f"The image at that address is larger than the {limit} limit.") from None
    except httpx.HTTPError:
        raise _refuse(
            "The image at that address could not be fetched; check that it is public, "
            "or download it and upload the file."
        ) from None


async def _follow(
    client: httpx.AsyncClient,
    url: str,
    dest_dir: Path,
    max_bytes: int,
    max_redirects: int,
    resolver: Resolver | None,
    is_allowed: AddressCheck,
) -> Path:
    """Each hop checked, resolved and pinned; the redirects followed by hand, at most a few."""
    for _hop in range(max_redirects + 1):
        scheme, host, port, rest = _split(url)
        _check_host(host)
        (address, *_others) = await resolve_public(host, port, resolver=resolver, is_allowed=is_allowed)
        request = _pinned_request(client, scheme, host, port, rest, address)
        logger.debug("fetching an image from %s (%s)", host, address)
        response = await client.send(request, stream=True)
        try:
            location = response.headers.get("location")
            if response.is_redirect and location:
                url = check_image_url(urljoin(url, location))
                continue
            if response.status_code != 200:
                raise _refuse(
                    f"The image at that address could not be fetched (HTTP {response.status_code}); "
                    "check that it is public, or download it and upload the file."
                )
            return await _save(response, url, dest_dir, max_bytes)
        finally:
            await response.aclose()
    raise _refuse(f"The image URL redirects more than {max_redirects} times; use the picture's own address.")


def _pinned_request(
    client: httpx.AsyncClient, scheme: str, host: str, port: int, rest: str, address: IPAddress
) -> httpx.Request:
    """A request to the checked address itself, naming the host in Host and TLS (SNI, certificate)."""
    default = 443 if scheme == "https" else 80
    host_header = (f"[{host}]" if ":" in host else host) + ("" if port == default else f":{port}")
    extensions = {"sni_hostname": host} if scheme == "https" and _ip_literal(host) is None else {}
    return client.build_request(
        "GET",
        _join(scheme, str(address), port, rest),
        headers={"Host": host_header, "Accept": "image/*"},
        extensions=extensions,
    )


def fetch_folder(url: str, dest_dir: Path) -> Path:
    """The folder under `dest_dir` where `fetch_image` keeps the picture of `url` (checked form)."""
    return dest_dir / hashlib.sha256(check_image_url(url).encode()).hexdigest()[:20]


async def _save(response: httpx.Response, url: str, dest_dir: Path, max_bytes: int) -> Path:
    """The body written to a fresh file as it arrives, abandoned as soon as it passes `max_bytes`."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _TooLarge
    folder = fetch_folder(url, dest_dir)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{id(response):x}.part"
    received = 0
    try:
        with partial.open("wb") as file:
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise _TooLarge
                file.write(chunk)
        target = folder / f"{_stem(url)}{_extension(response, url)}"
        partial.replace(target)
        return target
    finally:
        partial.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: nothing was kept


def _stem(url: str) -> str:
    """A file name from the URL's last path segment: letters, digits, `-` and `_` only."""
    stem = Path(urlsplit(url).path).stem
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:60] or "image"


def _extension(response: httpx.Response, url: str) -> str:
    """A file extension from the content type, else from the URL's path, else none at all."""
    content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type in _IMAGE_TYPES:
        return _IMAGE_TYPES[content_type]
    suffix = Path(urlsplit(url).path).suffix.lower()
    return suffix if suffix in {*_IMAGE_TYPES.values(), ".jpeg", ".tif"} else ""
