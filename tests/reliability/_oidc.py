"""A stand-in for Hugging Face's OpenID provider on 127.0.0.1, for signing in to a launched Space.

An app started as a Space with `hf_oauth` (`SYSTEM=spaces`, `OAUTH_CLIENT_ID`, ...) and
`OPENID_PROVIDER_URL` pointing here runs Gradio's real login routes: `/login/huggingface` sends
the browser to `authorize`, which signs in whoever `login_hint` names and sends it back to
`/login/callback` with a code; the app trades the code at `token` for an ID token signed with this
provider's key (published at `jwks`), checks it, and keeps the profile in its session cookie.
`sign_in` plays the browser's part and returns that cookie.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from ..conftest import loopback_server

__all__ = ["CLIENT_ID", "Provider", "provider", "sign_in", "space_env"]

CLIENT_ID = "luma-playground-test-client"


@dataclass
class Provider:
    """The provider's address, signing key and the codes it has handed out."""

    url: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "test"}))
    #: code -> (the user signed in, the nonce the app sent)
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: The users the app traded a code for, in order.
    tokens: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/oauth/authorize",
            "token_endpoint": f"{self.url}/oauth/token",
            "jwks_uri": f"{self.url}/oauth/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def id_token(self, user: str, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": CLIENT_ID,
            "sub": f"id-{user}",
            "iat": now,
            "exp": now + 3600,
            "nonce": nonce,
            "name": user.title(),
            "preferred_username": user,
            "profile": f"https://huggingface.co/{user}",
            "picture": f"https://huggingface.co/avatars/{user}.png",
        }
        return jwt.encode({"alg": "RS256", "kid": "test"}, claims, self.key)


def _handler(state: Provider) -> type[BaseHTTPRequestHandler]:
    class Serve(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            params = {name: values[0] for name, values in parse_qs(query).items()}
            if path == "/.well-known/openid-configuration":
                self._json(state.metadata())
            elif path == "/oauth/jwks":
                self._json(KeySet([state.key]).as_dict(private=False))
            elif path == "/oauth/authorize":
                code = secrets.token_urlsafe(16)
                state.codes[code] = (params.get("login_hint", "someone"), params.get("nonce", ""))
                redirect = params["redirect_uri"]
                joiner = "&" if "?" in redirect else "?"
                back = f"{redirect}{joiner}{urlencode({'code': code, 'state': params['state']})}"
                self.send_response(302)
                self.send_header("Location", back)
                self.end_headers()
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
            found = state.codes.pop(form.get("code", ""), None)
            if self.path != "/oauth/token" or found is None:
                self._json({"error": "invalid_grant"}, status=400)
                return
            user, nonce = found
            state.tokens.append(user)
            self._json(
                {
                    "access_token": f"hf_oauth_{secrets.token_hex(8)}",
                    "token_type": "bearer",
                    "expires_in": 3600,
                    "scope": "openid profile",
                    "id_token": state.id_token(user, nonce),
                }
            )

        def _json(self, body: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Serve


@contextmanager
def provider() -> Iterator[Provider]:
    """The provider, serving on a free port of 127.0.0.1 until the block ends."""
    state = Provider()
    with loopback_server(_handler(state)) as server:
        state.url = f"http://127.0.0.1:{server.server_address[1]}"
        yield state


def space_env(state: Provider) -> dict[str, str]:
    """What a Space with `hf_oauth: true` in its card gives the app, with this provider as Hugging Face."""
    return {
        "SYSTEM": "spaces",
        "OAUTH_CLIENT_ID": CLIENT_ID,
        "OAUTH_CLIENT_SECRET": "test-client-secret",
        "OAUTH_SCOPES": "openid profile",
        "OPENID_PROVIDER_URL": state.url,
    }


def _session_cookie(response: httpx.Response) -> str:
    for header in response.headers.get_list("set-cookie"):
        if match := re.match(r"session=([^;]+)", header):
            return match.group(1)
    raise AssertionError(f"no session cookie in {response.status_code} {response.headers}")


def sign_in(app_url: str, user: str) -> str:
    """Sign `user` in through the app's login routes, as a browser would; the session cookie.

    The cookie is marked Secure (Spaces are served over https), so it is carried by hand here.
    """
    with httpx.Client(follow_redirects=False, timeout=60) as browser:
        start = browser.get(f"{app_url}login/huggingface")
        assert start.status_code in {302, 303, 307}, start.text
        cookie = _session_cookie(start)
        consent = browser.get(f"{start.headers['location']}&{urlencode({'login_hint': user})}")
        callback = consent.headers["location"]
        assert urlsplit(callback).path == "/login/callback", callback
        landed = browser.get(callback, headers={"Cookie": f"session={cookie}"})
        assert landed.status_code in {302, 303, 307}, landed.text
        return _session_cookie(landed)
