"""Image URLs in a raw `queue/join` file object with `is_stream`: Gradio fetches nothing, the app checks.

A script builds the request itself (its own session hash, no gradio_client), naming the picture as
`{"path": URL, "url": URL, "is_stream": true}`: Gradio passes such a file object on untouched, so
the app's own URL check is all that stands between it and a paid submit. Every host form that
reaches this machine or its network is refused with one sentence, and nothing is uploaded or
submitted; a public picture is fetched by the app itself and uploaded as a file.
"""

from __future__ import annotations

import io
import ipaddress
import secrets
import socket
from typing import Any

import httpx
import pytest
from PIL import Image

from .conftest import PICTURE_HOST, AppProcess, raw_event

PROMPT = "A lighthouse beam sweeping over the waves"
#: The start of each refusal a URL can get (the sentence is the whole message).
NOT_PUBLIC = "The image URL points to an address that is not public"
THIS_MACHINE = "The image URL must point to a public host, not this machine or its network."
BACKSLASH = "The image URL contains a backslash, a space or a control character."
USERINFO = "An image URL cannot carry a user name or password; use a public URL."


def loopback_name() -> str | None:
    """A name this machine's resolver maps to loopback other than `localhost` (its host name)."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        return None
    if addresses and all(ipaddress.ip_address(address).is_loopback for address in addresses):
        return name
    return None


def raw_generate(app: AppProcess, image: Any) -> dict[str, Any]:
    """A script's own `queue/join` for generate (a session hash of its own); the closing message."""
    return raw_event(app, "generate", [image, PROMPT, "1280*720", 5, "luma/ray-2-i2v"])


def streamed(url: str) -> dict[str, Any]:
    """The file object a script sends for a picture at `url` that Gradio must not download."""
    return {"path": url, "url": url, "is_stream": True, "meta": {"_type": "gradio.FileData"}}


def error_of(message: dict[str, Any]) -> str:
    assert message["success"] is False, message
    return str(message["output"]["error"])


def test_a_file_object_cannot_name_a_file_on_the_server(sim, app: AppProcess) -> None:  # type: ignore[no-untyped-def]
    """A file object naming a server file (not an upload) is refused before any call is paid."""
    message = raw_generate(app, {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}})
    assert message["success"] is False, message
    assert sim.control.stats()["routes"].get("upload", 0) == 0 and sim.control.tasks() == []


REFUSED = [
    ("loopback", "http://127.0.0.1:{port}/landscape.png", NOT_PUBLIC),
    ("localhost", "http://localhost:{port}/landscape.png", THIS_MACHINE),
    ("fullwidth digits", "http://１２７.０.０.１:{port}/landscape.png", NOT_PUBLIC),
    ("ideographic full stops", "http://127。0。0。1:{port}/landscape.png", NOT_PUBLIC),
    ("fullwidth full stops", "http://127．0．0．1:{port}/landscape.png", NOT_PUBLIC),
    ("userinfo", "http://pictures.example@127.0.0.1:{port}/landscape.png", USERINFO),
    ("backslash userinfo", "http://pictures.example\\@127.0.0.1:{port}/landscape.png", BACKSLASH),
    ("backslash path", "http://127.0.0.1:{port}\\landscape.png", BACKSLASH),
    ("NAT64", "http://[64:ff9b::7f00:1]:{port}/landscape.png", NOT_PUBLIC),
    ("NAT64 local use", "http://[64:ff9b:1::7f00:1]:{port}/landscape.png", NOT_PUBLIC),
    ("6to4", "http://[2002:7f00:1::]:{port}/landscape.png", NOT_PUBLIC),
    ("IPv4-mapped", "http://[::ffff:127.0.0.1]:{port}/landscape.png", NOT_PUBLIC),
    ("multicast IPv4", "http://224.0.0.1:{port}/landscape.png", NOT_PUBLIC),
    ("multicast IPv6", "http://[ff02::1]:{port}/landscape.png", NOT_PUBLIC),
    ("private network", "http://10.0.0.7/landscape.png", NOT_PUBLIC),
    ("cloud metadata", "http://169.254.169.254/latest/meta-data/", NOT_PUBLIC),
]


@pytest.mark.parametrize(("url", "words"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_a_streamed_url_to_this_machine_is_refused_unfetched(
    sim,
    app: AppProcess,
    picture_host: Any,
    url: str,
    words: str,  # type: ignore[no-untyped-def]
) -> None:
    """Each form gets one sentence; the picture server is never asked; nothing is uploaded or submitted."""
    error = error_of(raw_generate(app, streamed(url.format(port=picture_host.port))))
    assert error.startswith(words) and error.count(". ") == 0 and "\n" not in error, error
    assert picture_host.hits == []
    routes = sim.control.stats()["routes"]
    assert routes.get("upload", 0) == 0 and routes.get("submit", 0) == 0, routes


def test_a_host_name_that_resolves_to_loopback_is_refused(sim, app: AppProcess, picture_host: Any) -> None:  # type: ignore[no-untyped-def]
    """A name from the hosts file that stands for 127.0.0.1 is resolved, and refused like the address."""
    name = loopback_name()
    if name is None:
        pytest.skip("this machine's own name does not resolve to loopback")
    error = error_of(raw_generate(app, streamed(f"http://{name}:{picture_host.port}/landscape.png")))
    assert error.startswith(NOT_PUBLIC), error
    assert picture_host.hits == []
    assert sim.control.stats()["routes"].get("upload", 0) == 0 and sim.control.tasks() == []


def test_a_public_picture_is_fetched_by_the_app_and_uploaded(sim, app: AppProcess, picture_host: Any) -> None:  # type: ignore[no-untyped-def]
    """A streamed public URL is downloaded by the app once and uploaded; WaveSpeed never sees the URL."""
    # A picture no earlier test uploaded (uploads are remembered by content).
    picture = io.BytesIO()
    Image.new("RGB", (640, 360), tuple(secrets.token_bytes(3))).save(picture, "PNG")
    picture_host.files["fresh.png"] = picture.getvalue()
    url = picture_host.url("fresh.png")
    assert url.startswith(f"http://{PICTURE_HOST}:")
    message = raw_generate(app, streamed(url))
    assert message["success"] is True, message
    assert picture_host.hits == ["/fresh.png"]
    (task,) = sim.control.tasks()
    assert task["submits"] == 1 and sim.control.stats()["routes"]["upload"] == 1
    sent = task["input"]["image"]
    assert sent.startswith(sim.base_url) and PICTURE_HOST not in sent  # the simulator's own upload
    assert httpx.get(sent, timeout=30).content == picture_host.files["fresh.png"]
