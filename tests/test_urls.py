"""Image URLs: every refused form, and the fetch itself against a real server on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from luma_playground._errors import InvalidRequest
from luma_playground._pictures.checks import check_image
from luma_playground._pictures.urls import (
    IPAddress,
    check_image_url,
    fetch_folder,
    fetch_image,
    is_public_address,
    resolve_public,
)
from luma_playground._request import GenerationRequest
from luma_playground._request import check_image_url as models_check_image_url

pytestmark = pytest.mark.anyio
CHUNK = 64 * 1024


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127。0。0。1/cat.png", "not public"),
        ("http://127．0．0．1/cat.png", "not public"),
        ("http://127｡0｡0｡1/cat.png", "not public"),
        ("http://１２７.０.０.１/cat.png", "not public"),
        ("http://evil.com\\@127.0.0.1/", "backslash"),
        ("http://user@example.com/cat.png", "user name or password"),
        ("http://user:pw@example.com/cat.png", "user name or password"),
        ("http://[64:ff9b::7f00:1]/", "not public"),
        ("http://[64:ff9b:1::a00:1]/", "not public"),
        ("http://[2002:7f00:1::]/", "not public"),
        ("http://[::ffff:127.0.0.1]/", "not public"),
        ("http://[::127.0.0.1]/", "not public"),
        ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "not public"),
        ("http://224.0.0.1/", "not public"),
        ("http://[ff02::1]/", "not public"),
        ("http://2130706433/", "not public"),
        ("http://0x7f.1/", "not public"),
        ("http://017700000001/", "not public"),
        ("http://127.1/", "not public"),
        ("http://0.0.0.0/", "not public"),
        ("http://[::]/", "not public"),
        ("http://240.0.0.1/", "not public"),
        ("http://100.64.0.1/", "not public"),
        ("http://169.254.169.254/latest/meta-data/", "not public"),
        ("http://[fe80::1]/", "not public"),
        ("http://10.0.0.7/", "not public"),
        ("http://localhost/cat.png", "public host"),
        ("http://LOCALHOST./cat.png", "public host"),
        ("http://printer.local/cat.png", "public host"),
        ("http://%31%32%37.0.0.1/", "percent-encoded"),
        ("http://exa mple.com/", "a space"),
        ("http://example.com/a\nb.png", "control character"),
        ("ftp://example.com/cat.png", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http:///cat.png", "no host"),
        ("http://example.com:99999/", "port"),
        ("http://exa_mple..com/", "not a valid domain"),
    ],
)
def test_refused_forms(url: str, words: str) -> None:
    """Every non-public or forbidden form of an image URL is refused by name, without network."""
    with pytest.raises(InvalidRequest, match=words) as caught:
        check_image_url(url)
    assert caught.value.field == "image"


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://example.com/a.png?x=1", "https://example.com/a.png?x=1"),
        ("https://Bücher.DE:8443/x.jpg", "https://xn--bcher-kva.de:8443/x.jpg"),
        ("https://ｅｘａｍｐｌｅ。com/a.png", "https://example.com/a.png"),
        ("http://8.8.8.8/a.png", "http://8.8.8.8/a.png"),
        ("http://[2606:4700::1111]/a.png", "http://[2606:4700::1111]/a.png"),
        ("http://[64:ff9b::808:808]/a.png", "http://[64:ff9b::808:808]/a.png"),
    ],
)
def test_public_forms_pass_normalised(url: str, normal: str) -> None:
    """Public URLs pass, with the host as the resolver will read it (IDNA, full-width folded)."""
    assert check_image_url(url) == normal


def test_the_request_uses_the_same_check() -> None:
    """`GenerationRequest.create` and the old import path refuse what the URL check refuses."""
    assert models_check_image_url is check_image_url
    with pytest.raises(InvalidRequest, match="not public"):
        GenerationRequest.create("http://１２７.０.０.１/cat.png", "a prompt")


def test_public_addresses() -> None:
    """Multicast, NAT64/6to4/mapped forms of loopback are not public; ordinary ones are."""
    for text in ("8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::"):
        assert is_public_address(ipaddress.ip_address(text)), text
    for text in ("224.0.0.1", "ff02::1", "64:ff9b::7f00:1", "2002:a00:1::", "::ffff:10.0.0.1", "::1"):
        assert not is_public_address(ipaddress.ip_address(text)), text


class Names:
    """A test resolver: names of our own, each with the addresses it answers."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError("name not known")
        return self.table[host]


async def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    """The system resolver's answer for `localhost` (the hosts file) is refused."""
    with pytest.raises(InvalidRequest, match="not public"):
        await resolve_public("localhost", 80)


async def test_a_name_with_any_private_address_is_refused() -> None:
    """One non-public address among the answers is enough to refuse the name."""
    names = Names({"rebind.test": ["93.184.216.34", "127.0.0.1"], "public.test": ["93.184.216.34"]})
    with pytest.raises(InvalidRequest, match="not public"):
        await resolve_public("rebind.test", 80, resolver=names)
    assert await resolve_public("public.test", 80, resolver=names) == [ipaddress.ip_address("93.184.216.34")]
    with pytest.raises(InvalidRequest, match="could not be found"):
        await resolve_public("missing.test", 80, resolver=names)


# -- the fetch, against a real server -------------------------------------------------------


@dataclass
class Served:
    """What the image server saw: paths asked for, Host headers, bytes sent by the big answers."""

    paths: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    finished: dict[str, threading.Event] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def done(self, path: str) -> threading.Event:
        return self.finished.setdefault(path, threading.Event())


@pytest.fixture
def served(landscape_image: Path) -> Iterator[Served]:
    picture = landscape_image.read_bytes()
    state = Served()

    class Serve(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.paths.append(self.path)
            state.hosts.append(self.headers.get("Host", ""))
            route = self.path.split("/")[1]
            getattr(self, f"route_{route}", self.route_cat)()

        def route_cat(self) -> None:
            self.answer(200, {"Content-Type": "image/png", "Content-Length": str(len(picture))})
            self.wfile.write(picture)

        def route_redirect(self) -> None:
            hops = int(self.path.split("/")[2])
            self.answer(302, {"Location": f"/redirect/{hops - 1}" if hops > 1 else "/cat.png"})

        def route_loop(self) -> None:
            self.answer(302, {"Location": f"/loop/{int(self.path.split('/')[2]) + 1}"})

        def route_away(self) -> None:
            target = self.path.split("/", 2)[2]
            self.answer(302, {"Location": f"http://{target.replace('PORT', str(state.port))}/secret"})

        def route_missing(self) -> None:
            self.answer(404, {"Content-Length": "0"})

        def route_huge(self) -> None:
            self.stream(self.path, 200 * 1024 * 1024, declared=False)

        def route_declared(self) -> None:
            self.stream(self.path, 30 * 1024 * 1024, declared=True)

        def route_stall(self) -> None:
            self.answer(200, {"Content-Type": "image/png", "Content-Length": str(len(picture))})
            self.wfile.write(picture[:100])
            self.wfile.flush()
            state.release.wait(60)

        def stream(self, path: str, total: int, *, declared: bool) -> None:
            headers = {"Content-Type": "image/png"} | ({"Content-Length": str(total)} if declared else {})
            self.answer(200, headers)
            sent = 0
            try:
                while sent < total:
                    self.wfile.write(b"\0" * CHUNK)
                    sent += CHUNK
            except OSError:
                pass  # the client hung up: that is the point
            finally:
                state.sent[path] = sent
                state.done(path).set()

        def answer(self, status: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


LOOPBACK = ipaddress.ip_address("127.0.0.1")
NAMES = {"pictures.test": ["127.0.0.1"], "rebind.test": ["127.0.0.1", "10.0.0.1"]}


def our_server(address: IPAddress) -> bool:
    """The allow-list seam: the test server's loopback address counts as public, nothing else."""
    return address == LOOPBACK or is_public_address(address)


async def fetch(served: Served, path: str, dest: Path, **options: Any) -> Path:
    url = f"http://pictures.test:{served.port}{path}"
    return await fetch_image(url, dest, resolver=Names(NAMES), is_allowed=our_server, **options)


async def test_a_picture_is_fetched_from_the_pinned_address(served: Served, tmp_path: Path) -> None:
    """The name only the test resolver knows is reached at its checked address, Host intact."""
    path = await fetch(served, "/cat.png", tmp_path)
    url = f"http://pictures.test:{served.port}/cat.png"
    assert path == fetch_folder(url, tmp_path) / "cat.png"
    assert check_image(path).width == 640
    assert served.hosts == [f"pictures.test:{served.port}"]
    assert list(tmp_path.rglob("*")) == [path.parent, path]


async def test_the_default_check_refuses_a_name_for_loopback(served: Served, tmp_path: Path) -> None:
    """Without the test's allow-list, a name resolving to 127.0.0.1 is refused and never asked."""
    url = f"http://pictures.test:{served.port}/cat.png"
    with pytest.raises(InvalidRequest, match="not public"):
        await fetch_image(url, tmp_path, resolver=Names(NAMES))
    assert served.paths == []


async def test_redirects_are_followed(served: Served, tmp_path: Path) -> None:
    """Three redirects are followed to the picture, each hop asked of the pinned address."""
    path = await fetch(served, "/redirect/3", tmp_path)
    assert check_image(path).format == "PNG"
    assert served.paths == ["/redirect/3", "/redirect/2", "/redirect/1", "/cat.png"]


async def test_more_redirects_than_allowed_are_refused(served: Served, tmp_path: Path) -> None:
    """A redirect chain longer than `max_redirects` is refused after that many hops."""
    with pytest.raises(InvalidRequest, match="redirects more than 3 times"):
        await fetch(served, "/loop/0", tmp_path)
    assert served.paths == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]


@pytest.mark.parametrize(
    "target", ["127.0.0.1:PORT", "rebind.test:PORT", "localhost:PORT", "[::ffff:127.0.0.1]:PORT"]
)
async def test_a_redirect_to_a_refused_address_is_refused(
    served: Served, tmp_path: Path, target: str
) -> None:
    """A redirect to loopback (literal, by name, mapped) is checked like the first URL, not followed."""
    with pytest.raises(InvalidRequest, match=r"not public|public host"):
        await fetch(served, f"/away/{target}", tmp_path)
    assert "/secret" not in served.paths and len(served.paths) == 1


async def test_a_stream_over_the_cap_is_abandoned(served: Served, tmp_path: Path) -> None:
    """A body with no length passing 20 MB is dropped as soon as it does, far from its end."""
    with pytest.raises(InvalidRequest, match=r"larger than the 20\.0 MB limit"):
        await fetch(served, "/huge", tmp_path)
    assert served.done("/huge").wait(30)
    assert 20 * 1024 * 1024 < served.sent["/huge"] < 60 * 1024 * 1024
    assert list(tmp_path.rglob("*")) == []


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    served: Served, tmp_path: Path
) -> None:
    """A Content-Length over the cap is refused at once: the server cannot send it all."""
    with pytest.raises(InvalidRequest, match=r"larger than the 20\.0 MB limit"):
        await fetch(served, "/declared", tmp_path)
    assert served.done("/declared").wait(30)
    assert served.sent["/declared"] < 20 * 1024 * 1024
    assert list(tmp_path.rglob("*")) == []


async def test_a_stalled_server_hits_the_time_cap(served: Served, tmp_path: Path) -> None:
    """A server that stops sending mid-picture ends in the time-cap sentence, and no file."""
    with pytest.raises(InvalidRequest, match=r"took more than 0\.5 s"):
        await fetch(served, "/stall", tmp_path, timeout=0.5)
    assert list(tmp_path.rglob("*")) == []


async def test_an_error_status_is_one_sentence(served: Served, tmp_path: Path) -> None:
    """A 404 from the image host is reported with its code, and no file is left."""
    with pytest.raises(InvalidRequest, match=r"could not be fetched \(HTTP 404\)"):
        await fetch(served, "/missing", tmp_path)
    assert list(tmp_path.rglob("*")) == []
