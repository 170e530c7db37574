"""Per-session state kept on the server: the user's key and the jobs its tab started.

The key lives only here, in memory, keyed by Gradio's session hash; it never becomes an input or
output of a public event, so Gradio's run history, the API page and the config never see it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from .._config import ApiKey, Settings
from .._errors import InvalidRequest
from .._features.shots import ShotRun
from .._guard.identity import MCP_MARK, MCP_VISITOR, PROXY_HEADERS, address_layer, client_address, key_owner
from .._guard.limits import Caller, LimitReached
from .._playground import SIMULATOR_KEY, Playground
from .._request import GenerationRequest
from .._run.jobs import Job
from . import _parts

__all__ = ["KEY_HEADER", "LimitReached", "Session", "SessionStore", "Visit"]

#: The request header through which programmatic callers (gradio_client, MCP) pass their own key.
KEY_HEADER = "x-wavespeed-key"

logger = logging.getLogger("luma_playground")
#: The simulator's key is public: holding it proves nothing about who calls.
_PUBLIC_FINGERPRINT = ApiKey(SIMULATOR_KEY).fingerprint
#: What an anonymous MCP caller is told by the tools that read or act on existing work.
OWN_KEY_NEEDED = (
    "This shared playground cannot tell MCP callers apart, so it shows and acts on work only for "
    "the key that made it: send your own WaveSpeed key in the X-WaveSpeed-Key header."
)


@dataclass
class Session:
    """What the server remembers about one browser tab: its key and the jobs it started."""

    api_key: ApiKey | None = field(default=None, repr=False)
    jobs: list[Job] = field(default_factory=list)
    #: The jobs of the tab's latest start, in the order of their slots on the page.
    last_run: list[Job] = field(default_factory=list)
    #: The shots the tab's Extend panel is making: each segment's job counts as the tab's.
    shots: list[ShotRun] = field(default_factory=list)

    @property
    def running(self) -> list[Job]:
        """The tab's jobs still running, its shots' segments among them, oldest first."""
        segments = [job for run in self.shots for job in run.jobs if job not in self.jobs]
        return [job for job in (*self.jobs, *segments) if not job.finished]

    @property
    def busy(self) -> bool:
        """True while a job of the tab runs, or one of its shots is between two segments."""
        return bool(self.running) or any(not run.finished for run in self.shots)

    #: Why the key typed into this tab was refused; its generations are refused until it is fixed.
    key_fault: str | None = None


@dataclass(frozen=True)
class Visit:
    """Who is asking, and with which key: everything a handler needs from a request."""

    session_hash: str
    visitor: str
    user_key: ApiKey | None = field(default=None, repr=False)
    #: The sign-in name (a login, or a Hugging Face account), when signed in.
    login: str | None = None
    #: Every identity of the visitor the limits count against (login, address, session).
    layers: tuple[str, ...] = ()
    #: An MCP caller with no login and no key of its own (see `Caller.anonymous`).
    anonymous: bool = False

    @property
    def owner(self) -> str:
        """The name the journal records for tasks started from this visit."""
        return self.visitor

    @property
    def caller(self) -> Caller:
        """The visit as the start path sees it."""
        return Caller(
            self.visitor, self.user_key, login=self.login, layers=self.layers, anonymous=self.anonymous
        )


def key_error(message: str) -> gr.Error:
    """A refused key as Gradio shows it: the sentence alone, no traceback in the log."""
    return _parts.page_error(message, title="Key not valid")


class SessionStore:
    """The sessions of one playground: each tab's key and the jobs it started."""

    def __init__(self, playground: Playground) -> None:
        self.playground = playground
        self._sessions: dict[str, Session] = {}

    @property
    def settings(self) -> Settings:
        return self.playground.settings

    def session(self, session_hash: str) -> Session:
        return self._sessions.setdefault(session_hash, Session())

    def set_key(self, session_hash: str, value: str | None) -> ApiKey | None:
        """Remember (or forget, for a blank value) the key a user typed into their tab.

        A key of the wrong shape is not kept; `key_fault` says why until another is typed.
        """
        session = self.session(session_hash)
        try:
            session.api_key, session.key_fault = ApiKey.parse(value), None
        except InvalidRequest as fault:
            session.api_key, session.key_fault = None, fault.message
        return session.api_key

    def key_fault(self, session_hash: str) -> str | None:
        """The sentence that says why this tab's typed key was refused, if it was."""
        session = self._sessions.get(session_hash)
        return session.key_fault if session is not None else None

    def forget(self, session_hash: str) -> None:
        """Drop a closed tab's key; its jobs, if any, run on and save their videos."""
        self._sessions.pop(session_hash, None)

    def visit(self, request: gr.Request | None, header_key: str | None = None) -> Visit:
        """The caller behind a request: the header's key, else the key typed into this tab.

        The visitor is their login, else their session (an MCP caller: their key, else the one
        anonymous MCP visitor); the limits count the address too.
        """
        self._notice_proxy(request)
        raw = getattr(request, "request", None) or request
        via_mcp = _header_values(raw, MCP_MARK[0]) == [MCP_MARK[1]]
        session_hash = _parts.session_hash(request)
        login = self._login(request)
        try:
            key = ApiKey.parse(header_key) if header_key else None
        except InvalidRequest as fault:
            raise key_error(fault.message) from None
        if key is None and not via_mcp and session_hash in self._sessions:
            if fault_message := self._sessions[session_hash].key_fault:
                raise key_error(fault_message)  # not the owner's key in its place
            key = self._sessions[session_hash].api_key
        if via_mcp:
            proven = key is not None and key.fingerprint != _PUBLIC_FINGERPRINT
            visitor = login or (key_owner(key.fingerprint) if key is not None and proven else MCP_VISITOR)
        else:
            visitor = login or f"session:{session_hash}"
        # Gradio's MCP server calls from this machine: only a trusted proxy's header names the caller.
        address = self._address(raw, peer=None if via_mcp else _peer(raw))
        layers = tuple(dict.fromkeys(layer for layer in (login, address, visitor) if layer))
        if key is not None:  # a shot this key left paused goes on from here
            self.playground.shots.wake(key)
        anonymous = visitor == MCP_VISITOR
        return Visit(session_hash, visitor, key, login=login, layers=layers, anonymous=anonymous)

    def work_visit(self, request: gr.Request | None, header_key: str | None = None) -> Visit:
        """The caller of a call that reads or acts on existing work: refused when anonymous.

        On a shared deployment an anonymous MCP caller could be anyone, so it must bring a key.
        """
        visit = self.visit(request, header_key)
        if visit.anonymous and self.settings.shared:
            raise gr.Error(OWN_KEY_NEEDED, title="Your own key is needed", print_exception=False)
        return visit

    def _login(self, request: gr.Request | None) -> str | None:
        """The sign-in name behind a request (a login, or a Hugging Face account), if any."""
        username = getattr(request, "username", None)
        hf_name = _hf_username(request) if self.settings.oauth else None
        return f"user:{username}" if username else (f"hf:{hf_name}" if hf_name else None)

    def _address(self, raw: Any, *, peer: str | None) -> str | None:
        """The address layer of a request: its peer, or the entry the trusted proxies wrote."""
        forwarded_for = _header_values(raw, "x-forwarded-for")
        forwarded = _header_values(raw, "forwarded")
        return address_layer(client_address(peer, forwarded_for, self.settings.trusted_proxies, forwarded))

    def _notice_proxy(self, request: gr.Request | None) -> None:
        """Turn shared mode on when a request came through a proxy to an app that thinks it is private.

        Behind nginx or Caddy on loopback the app looks private while strangers reach it; a
        proxy's headers say otherwise. `LUMA_PLAYGROUND_SHARED=0` keeps it private on purpose.
        """
        settings = self.settings
        if settings.shared or settings.shared_override is not None:
            return
        raw = getattr(request, "request", None) or request
        if not any(_header_values(raw, name) for name in PROXY_HEADERS):
            return
        self.playground.settings = settings.with_changes(shared_override=True)
        logger.warning(
            "a request came through a reverse proxy (X-Forwarded-For or Forwarded): serving as a "
            "shared deployment from now on (per-visitor history and limits); set "
            "LUMA_PLAYGROUND_SHARED=0 if only you can reach this proxy"
        )

    def badge_kind(self, user_key: ApiKey | None) -> str:
        """Which key pays for a generation: "user", "server" or "simulator"."""
        backend, _ = self.playground.backend_for(user_key)
        if backend.simulated:
            return "simulator"
        return "user" if user_key is not None else "server"

    def spends_owner_credits(self, visit: Visit) -> bool:
        """True when this visit would spend the server's key on a deployment others can reach."""
        return self.playground.pays_owner(visit.user_key)

    async def start(self, visit: Visit, request: GenerationRequest, count: int = 1) -> list[Job]:
        """Start work through the playground's one start path, and keep its jobs with the tab."""
        jobs = await self.playground.start(request, visit.caller, count=count)
        self.keep_jobs(visit, jobs)
        return jobs

    def keep_jobs(self, visit: Visit, jobs: list[Job], *, run: bool = True) -> None:
        """Keep jobs started for this tab (a run, a draft's final) with it: its Cancel stops them.

        They become the tab's last `run`, unless they are not one (a draft's final leaves the run
        whose drafts the page still offers to finish).
        """
        self._prune(keep=visit.session_hash)
        session = self.session(visit.session_hash)
        session.jobs = [*(job for job in session.jobs if not job.finished), *jobs]
        if run:
            session.last_run = jobs

    def keep_shot(self, session_hash: str, run: ShotRun) -> None:
        """Count a shot's segments among the tab's jobs, as they start (its Cancel stops them)."""
        session = self.session(session_hash)
        session.shots = [*(kept for kept in session.shots if not kept.finished), run]

    def stop_shots(self, session_hash: str) -> list[Job]:
        """End the tab's shots after the segment each is making; those segments' jobs (to cancel)."""
        session = self._sessions.get(session_hash)
        runs = [run for run in session.shots if not run.finished] if session is not None else []
        for run in runs:
            run.stopping = True
        return [run.current for run in runs if run.current is not None]

    def running(self, session_hash: str) -> list[Job]:
        """This tab's jobs that are still running (its shots' segments too), oldest first."""
        session = self._sessions.get(session_hash)
        return session.running if session is not None else []

    def last_run(self, session_hash: str) -> list[Job]:
        """The jobs of this tab's latest start, finished or not."""
        session = self._sessions.get(session_hash)
        return session.last_run if session is not None else []

    def _prune(self, *, keep: str) -> None:
        """Forget keyless sessions whose jobs have all ended (API callers never unload), but `keep`."""
        for session_hash, session in list(self._sessions.items()):
            keyless = session.api_key is None and session.key_fault is None
            if keyless and not session.busy and session_hash != keep:
                del self._sessions[session_hash]


def _peer(raw: Any) -> str | None:
    """The connection's peer address (uvicorn leaves it as it is: see `keep_raw_peer`)."""
    client = getattr(raw, "client", None)
    return getattr(client, "host", None) or None


def _header_values(raw: Any, name: str) -> list[str]:
    """Every value of a header of the raw request (a proxy chain may send several)."""
    headers = getattr(raw, "headers", None)
    if headers is None:
        return []
    if hasattr(headers, "getlist"):
        return [str(value) for value in headers.getlist(name)]
    value = headers.get(name)
    return [str(value)] if value else []


def _hf_username(request: gr.Request | None) -> str | None:
    """The Hugging Face account signed in to this browser, when OAuth is on and it has not expired."""
    raw = getattr(request, "request", None)
    try:
        info = raw.session.get("oauth_info") if raw is not None else None
    except (AssertionError, AttributeError):  # no session middleware: nobody can sign in
        return None
    if not isinstance(info, dict):
        return None
    expires_at = info.get("expires_at")
    if isinstance(expires_at, int | float) and expires_at < time.time():
        return None
    userinfo = info.get("userinfo")
    name = userinfo.get("preferred_username") if isinstance(userinfo, dict) else None
    return str(name) if name else None
