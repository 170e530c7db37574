"""Per-session state kept on the server: the user's key and the jobs its tab started.

The key lives only here, in memory, keyed by Gradio's session hash; it never becomes an input or
output of a public event, so Gradio's run history, the API page and the config never see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

from .._config import ApiKey, Settings
from .._errors import InvalidRequest
from .._jobs import Job
from .._limits import Caller, LimitReached
from .._models import GenerationRequest
from .._service import Playground
from . import _parts

__all__ = ["KEY_HEADER", "LimitReached", "Session", "SessionStore", "Visit"]

#: The request header through which programmatic callers (gradio_client, MCP) pass their own key.
KEY_HEADER = "x-wavespeed-key"


@dataclass
class Session:
    """What the server remembers about one browser tab: its key and the jobs it started."""

    api_key: ApiKey | None = field(default=None, repr=False)
    jobs: list[Job] = field(default_factory=list)
    #: The jobs of the tab's latest start, in the order of their slots on the page.
    last_run: list[Job] = field(default_factory=list)

    @property
    def running(self) -> list[Job]:
        return [job for job in self.jobs if not job.finished]

    #: Why the key typed into this tab was refused; its generations are refused until it is fixed.
    key_fault: str | None = None


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

    @property
    def caller(self) -> Caller:
        """The visit as the start path sees it."""
        return Caller(self.visitor, self.user_key)


def key_error(message: str) -> gr.Error:
    """A refused key as Gradio shows it: the sentence alone, no traceback in the log."""
    return gr.Error(message, title="Key not valid", print_exception=False)


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
        """The caller behind a request: the header's key, else the key typed into this tab."""
        session_hash = _parts.session_hash(request)
        username = getattr(request, "username", None)
        visitor = f"user:{username}" if username else f"session:{session_hash}"
        try:
            key = ApiKey.parse(header_key) if header_key else None
        except InvalidRequest as fault:
            raise key_error(fault.message) from None
        if key is None and session_hash in self._sessions:
            if fault_message := self._sessions[session_hash].key_fault:
                raise key_error(fault_message)  # not the owner's key in its place
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
        return self.playground.pays_owner(visit.user_key)

    async def start(self, visit: Visit, request: GenerationRequest, count: int = 1) -> list[Job]:
        """Start work through the playground's one start path, and keep its jobs with the tab."""
        jobs = await self.playground.start(request, visit.caller, count=count)
        self._prune()
        session = self.session(visit.session_hash)
        session.jobs = [*session.running, *jobs]
        session.last_run = jobs
        return jobs

    def running(self, session_hash: str) -> list[Job]:
        """This tab's jobs that are still running, oldest first."""
        session = self._sessions.get(session_hash)
        return session.running if session is not None else []

    def last_run(self, session_hash: str) -> list[Job]:
        """The jobs of this tab's latest start, finished or not."""
        session = self._sessions.get(session_hash)
        return session.last_run if session is not None else []

    def _prune(self) -> None:
        """Forget keyless sessions whose jobs have all ended (API callers never unload)."""
        for session_hash, session in list(self._sessions.items()):
            keyless = session.api_key is None and session.key_fault is None
            if keyless and not session.running:
                del self._sessions[session_hash]
