"""Per-session state kept on the server: the user's key, the job they follow, their limits.

The key lives only here, in memory, keyed by Gradio's session hash; it never becomes an input or
output of a public event, so Gradio's run history, the API page and the config never see it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import gradio as gr

from .._config import ApiKey, Settings
from .._errors import LumaPlaygroundError
from .._jobs import Job
from .._service import Backend, Playground
from ._parts import DAY

__all__ = ["KEY_HEADER", "LimitReached", "Session", "SessionStore", "Visit"]

#: The request header through which programmatic callers (gradio_client, MCP) pass their own key.
KEY_HEADER = "x-wavespeed-key"


class LimitReached(LumaPlaygroundError):
    """A session asked for more tasks than a shared deployment allows on the owner's key."""

    kind = "input"
    title = "Limit reached"


@dataclass
class Session:
    """What the server remembers about one browser tab."""

    api_key: ApiKey | None = field(default=None, repr=False)
    job: Job | None = None
    backend: Backend | None = None


@dataclass(frozen=True)
class Visit:
    """Who is asking, and with which key: everything a handler needs from a request."""

    session_hash: str
    visitor: str
    user_key: ApiKey | None = field(default=None, repr=False)

    @property
    def owner(self) -> str:
        """The name the journal records for tasks started from this visit."""
        return self.visitor


class SessionStore:
    """The sessions of one playground, and the daily counts of the visitors behind them."""

    def __init__(self, playground: Playground, *, clock: Callable[[], float] = time.time) -> None:
        self.playground = playground
        self._sessions: dict[str, Session] = {}
        self._started: dict[str, deque[float]] = {}
        self._clock = clock

    @property
    def settings(self) -> Settings:
        return self.playground.settings

    def session(self, session_hash: str) -> Session:
        return self._sessions.setdefault(session_hash, Session())

    def set_key(self, session_hash: str, value: str | None) -> ApiKey | None:
        """Remember (or forget, for a blank value) the key a user typed into their tab."""
        key = ApiKey.parse(value)
        self.session(session_hash).api_key = key
        return key

    def forget(self, session_hash: str) -> None:
        """Drop a closed tab's key; its job, if any, runs on and saves its video."""
        self._sessions.pop(session_hash, None)

    def visit(self, request: gr.Request | None, header_key: str | None = None) -> Visit:
        """The caller behind a request: the header's key, else the key typed into this tab."""
        session_hash = getattr(request, "session_hash", None) or "local"
        username = getattr(request, "username", None)
        visitor = f"user:{username}" if username else f"session:{session_hash}"
        key = ApiKey.parse(header_key) if header_key else None
        if key is None and session_hash in self._sessions:
            key = self._sessions[session_hash].api_key
        return Visit(session_hash, visitor, key)

    def badge_kind(self, user_key: ApiKey | None) -> str:
        """Which key pays for a generation: "user", "server" or "simulator"."""
        backend, _ = self.playground.backend_for(user_key)
        if backend.simulated:
            return "simulator"
        return "user" if user_key is not None else "server"

    def spends_owner_credits(self, visit: Visit) -> bool:
        """True when this visit would spend the server's key on a deployment others can reach."""
        return self.settings.shared and self.badge_kind(visit.user_key) == "server"

    def check_limits(self, visit: Visit, running: int, count: int = 1) -> None:
        """Refuse `count` more starts beyond the per-session limits, when the owner pays."""
        if not self.spends_owner_credits(visit):
            return
        if count > 1:
            self._check_batch(visit, running, count)
        running_limit = self.settings.session_running_limit
        if running >= running_limit:
            raise LimitReached(
                f"You already have {running} video{'s' if running != 1 else ''} generating; this "
                f"shared playground allows {running_limit} at a time. Wait for one to finish, or "
                "enter your own WaveSpeed key."
            )
        daily_limit = self.settings.session_daily_limit
        if len(self._recent(visit.visitor)) >= daily_limit:
            raise LimitReached(
                f"You have reached this shared playground's limit of {daily_limit} videos a day. "
                "Enter your own WaveSpeed key to go on."
            )

    def _check_batch(self, visit: Visit, running: int, count: int) -> None:
        """Refuse several videos at once (variants) when they would not all fit the limits."""
        running_limit = self.settings.session_running_limit
        if running < running_limit < running + count:
            raise LimitReached(
                f"{count} videos at once are more than this shared playground allows: "
                f"{running_limit} at a time, {running} already generating. Ask for fewer, or "
                "enter your own WaveSpeed key."
            )
        daily_limit = self.settings.session_daily_limit
        used = len(self._recent(visit.visitor))
        if used < daily_limit < used + count:
            raise LimitReached(
                f"{count} more videos would pass this shared playground's limit of {daily_limit} "
                f"a day ({daily_limit - used} left today). Ask for fewer, or enter your own "
                "WaveSpeed key."
            )

    def record_start(self, visit: Visit, count: int = 1) -> None:
        if self.spends_owner_credits(visit):
            self._recent(visit.visitor).extend([self._clock()] * count)

    def _recent(self, visitor: str) -> deque[float]:
        starts = self._started.setdefault(visitor, deque())
        horizon = self._clock() - DAY
        while starts and starts[0] < horizon:
            starts.popleft()
        return starts

    def follow(self, visit: Visit, job: Job, backend: Backend) -> None:
        """Remember the job this tab started, so that its Cancel button can reach it."""
        self._prune()
        session = self.session(visit.session_hash)
        session.job, session.backend = job, backend

    def _prune(self) -> None:
        """Forget keyless sessions whose job has ended (API callers never unload)."""
        for session_hash, session in list(self._sessions.items()):
            if session.api_key is None and (session.job is None or session.job.finished):
                del self._sessions[session_hash]

    def current(self, session_hash: str) -> tuple[Job, Backend] | None:
        """The job this tab is following, while it runs."""
        session = self._sessions.get(session_hash)
        if session is None or session.job is None or session.backend is None:
            return None
        if session.job.finished:
            return None
        return session.job, session.backend
