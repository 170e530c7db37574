"""Configuration objects, and the one place where the environment is read."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ._errors import InvalidRequest
from ._wavespeed.pacing import TIERS, PaceLimits, Tier

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DAILY_BUDGET",
    "DEFAULT_MODEL",
    "KEY_LENGTHS",
    "MODELS",
    "MODEL_ID",
    "RAY_2",
    "RAY_2_FLASH",
    "ApiKey",
    "Model",
    "Settings",
    "Timeouts",
    "check_key_shape",
    "is_loopback_host",
    "key_fingerprint",
    "model_named",
    "model_of",
    "on_space",
    "user_data_dir",
]

DEFAULT_BASE_URL = "https://api.wavespeed.ai"


@dataclass(frozen=True, slots=True)
class Model:
    """A video model WaveSpeed serves: its id, its name, its contract price and its usual speed."""

    #: The model's id on WaveSpeed: its submit route is `/api/v3/{id}`.
    id: str
    label: str
    #: The short name `LUMA_PLAYGROUND_MODELS` and the CLI accept.
    alias: str
    #: USD per started 5 s of video when the pricing route has not answered (the model page's price).
    price_per_5s: float
    #: Typical seconds from submit to a finished 5 s clip.
    seconds_per_5s: float

    def price(self, duration: int) -> float:
        """The contract's price of one clip of `duration` seconds, billed per started 5 s."""
        return self.price_per_5s * max(1, -(-int(duration) // 5))


RAY_2 = Model("luma/ray-2-i2v", "Ray 2", "ray-2", price_per_5s=0.50, seconds_per_5s=60.0)
#: Luma's draft model: the same inputs and result route, about three times faster and cheaper.
RAY_2_FLASH = Model("luma/ray-2-flash-i2v", "Ray 2 Flash", "flash", price_per_5s=0.20, seconds_per_5s=20.0)
#: The models the playground offers, by id, the default first.
MODELS: dict[str, Model] = {model.id: model for model in (RAY_2, RAY_2_FLASH)}
DEFAULT_MODEL = RAY_2
MODEL_ID = DEFAULT_MODEL.id


def model_named(name: object) -> Model:
    """The model of an id (`luma/ray-2-flash-i2v`), a short name (`flash`) or a label (`Ray 2 Flash`).

    None or nothing is the default model (a script that sends only the first inputs of a call).
    """
    if isinstance(name, Model):
        return name
    if name is None or not str(name).strip():
        return DEFAULT_MODEL
    wanted = str(name).strip().lower()
    for model in MODELS.values():
        if wanted in (model.id, model.alias, model.label.lower()):
            return model
    choices = ", ".join(f"{model.alias} ({model.id})" for model in MODELS.values())
    raise InvalidRequest(f"Unknown model {str(name)[:60]!r}: choose one of {choices}.", field="model")


def model_of(request: object, model: str | Model | None = None) -> Model:
    """The model of a start: `model` when given, else the request's `model`, else the default."""
    model = model or getattr(request, "model", None)
    return model_named(model) if model else DEFAULT_MODEL


def key_fingerprint(key: str) -> str:
    """A short, one-way name for a key: enough to tell keys apart, useless to call the API."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


#: A plausible key length: far shorter or longer, it was not pasted whole (or not a key at all).
KEY_LENGTHS = range(8, 257)
_PRINTABLE = frozenset(chr(code) for code in range(0x21, 0x7F))


def _key_fault(value: str) -> str | None:
    """What is wrong with the shape of a (trimmed) key, in a few words; None when nothing is."""
    if any(char.isspace() for char in value):
        return "it contains a space or a line break"
    if not value.isascii():
        return "it contains characters that are not plain letters, digits or symbols"
    if not set(value) <= _PRINTABLE:
        return "it contains an invisible control character"
    if len(value) < KEY_LENGTHS.start:
        return f"it is only {len(value)} characters long"
    if len(value) >= KEY_LENGTHS.stop:
        return f"it is {len(value):,} characters long"
    return None


def check_key_shape(value: str) -> str:
    """The key, if it has the shape of an API key (printable ASCII, 8 to 256 characters)."""
    fault = _key_fault(value)
    if fault is not None:
        # Never the key itself in the message: only what is wrong with it.
        raise InvalidRequest(
            f"That API key is not valid: {fault}. Paste the key exactly as wavespeed.ai shows it.",
            field="api_key",
        )
    return value


class ApiKey:
    """An API key that does not show itself: not in `repr`, `str`, f-strings or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        value = value.strip()
        if not value:
            raise ValueError("an API key cannot be empty")
        self._value = check_key_shape(value)

    @classmethod
    def parse(cls, value: str | ApiKey | None) -> ApiKey | None:
        """An `ApiKey` from user input, trimmed and checked; blank or missing input gives None.

        A key of the wrong shape raises `InvalidRequest` at once: sent as a header it would
        fail on the wire, after retries, with a less helpful message.
        """
        if value is None or isinstance(value, ApiKey):
            return value
        return cls(value) if value.strip() else None

    def reveal(self) -> str:
        """The key itself, for the Authorization header and nothing else."""
        return self._value

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"ApiKey(fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:
        # Pickling would write the key wherever the pickle goes (Gradio state, caches).
        raise TypeError("an API key cannot be pickled")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-request timeouts in seconds; `deadline` bounds a whole task, submit to download."""

    connect: float = 10.0
    read: float = 30.0
    write: float = 60.0
    pool: float = 10.0
    deadline: float = 30 * 60.0


def is_loopback_host(host: str | None) -> bool:
    """True for no host (Gradio's default, 127.0.0.1) or a name of this machine's loopback."""
    host = (host or "").strip().strip("[]").lower()
    return host in {"", "localhost", "::1"} or host.startswith("127.")


def on_space(environ: Mapping[str, str] | None = None) -> bool:
    """True when running on a Hugging Face Space."""
    environ = os.environ if environ is None else environ
    return bool(environ.get("SPACE_ID")) or environ.get("SYSTEM") == "spaces"


def user_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder for the journal and outputs: `LUMA_PLAYGROUND_HOME`, else the platform's.

    On a Space the default is under the system temp folder, the one place always writable there.
    """
    environ = os.environ if environ is None else environ
    if home := environ.get("LUMA_PLAYGROUND_HOME"):
        return Path(home).expanduser()
    if on_space(environ):
        return Path(tempfile.gettempdir()) / "luma-playground"
    if xdg := environ.get("XDG_DATA_HOME"):
        return Path(xdg) / "luma-playground"
    return Path.home() / ".local" / "share" / "luma-playground"


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    return int(raw) if raw else default


def _tier(name: str | None) -> Tier:
    """The named tier (Bronze when unset); ValueError names the known ones."""
    name = (name or "bronze").strip().lower()
    if name not in TIERS:
        raise ValueError(f"LUMA_PLAYGROUND_TIER must be one of {', '.join(TIERS)}, not {name!r}")
    return TIERS[name]


def _models(value: str | None) -> tuple[str, ...]:
    """The ids of a comma list of models (ids or short names); every model when blank."""
    names = [name for name in (value or "").split(",") if name.strip()]
    if not names:
        return tuple(MODELS)
    try:
        return tuple(dict.fromkeys(model_named(name).id for name in names))
    except InvalidRequest:
        known = ", ".join(model.alias for model in MODELS.values())
        message = f"LUMA_PLAYGROUND_MODELS must list some of {known} (or their ids), not {value!r}"
        raise ValueError(message) from None


def _optional_flag(value: str | None) -> bool | None:
    """True or False when the variable says so, None when it is unset or blank."""
    value = (value or "").strip()
    return _flag(value) if value else None


#: USD the server's key may spend per UTC day on a shared deployment, unless configured.
DEFAULT_DAILY_BUDGET = 5.0


@dataclass(frozen=True)
class Settings:
    """Everything the playground needs to know about where it runs."""

    base_url: str = DEFAULT_BASE_URL
    api_key: ApiKey | None = field(default=None, repr=False)
    timeouts: Timeouts = Timeouts()
    data_dir: Path = field(default_factory=user_data_dir)
    #: Public HTTPS base of this app, for webhooks (`SPACE_HOST` on a Space).
    public_url: str | None = None
    #: The account's tier (`bronze`, `silver`, `gold`, `ultra`): the defaults of the next two.
    tier: str = "bronze"
    #: Tasks running at once per API key (the account's concurrency; Bronze allows 3).
    tasks_per_key: int = 3
    #: Video submits per minute per API key (Bronze allows 5; `from_env` takes the tier's).
    #: None paces by the running tasks alone.
    submits_per_minute: int | None = None
    #: Limits per browser session on a deployment that spends the owner's credits.
    session_running_limit: int = 2
    session_daily_limit: int = 20
    #: Prompt suggestions a visitor may ask for per day on the owner's key (same sharing rules).
    session_daily_suggestions: int = 60
    share: bool = False
    mcp: bool = False
    auth: tuple[str, str] | None = field(default=None, repr=False)
    #: True on a Hugging Face Space (public by nature).
    space: bool = False
    #: True when the server listens beyond this machine (`GRADIO_SERVER_NAME`, `--host`).
    exposed: bool = False
    #: Generations the web UI runs at once, all sessions together (the per-key slots queue the rest).
    event_concurrency: int = 128
    #: True when no key is configured and the built-in simulator stands in for the API.
    simulated: bool = False
    #: USD the server's key may spend per UTC day on a shared deployment (0: no limit).
    #: `from_env` gives deployments `DEFAULT_DAILY_BUDGET`; settings made in code start without.
    daily_budget: float = 0.0
    #: Reverse proxies in front of the app whose `X-Forwarded-For` entries are believed.
    trusted_proxies: int = 0
    #: The server's key serves signed-in visitors only.
    require_login: bool = False
    #: `LUMA_PLAYGROUND_SHARED`: True or False overrides the detection; None detects.
    shared_override: bool | None = None
    #: Hugging Face sign-in is on (a Space with `hf_oauth: true` sets `OAUTH_CLIENT_ID`).
    oauth: bool = False
    #: The ids of the models the server's key serves to visitors on a shared deployment
    #: (`LUMA_PLAYGROUND_MODELS`); a visitor's own key may use any model.
    models: tuple[str, ...] = tuple(MODELS)

    def serves(self, model: str | Model) -> bool:
        """True when the server's key serves this model to visitors."""
        return model_named(model).id in self.models

    @property
    def shared(self) -> bool:
        """True when people other than the owner can reach the UI.

        A share link, a Space, a login, or a server listening beyond this machine;
        `shared_override` (`LUMA_PLAYGROUND_SHARED`) decides instead when set.
        """
        if self.shared_override is not None:
            return self.shared_override
        return self.share or self.space or self.exposed or self.auth is not None

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.sqlite3"

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment variables documented in the README."""
        env = os.environ if environ is None else environ
        auth = None
        if credentials := env.get("LUMA_PLAYGROUND_AUTH", "").strip():
            user, _, password = credentials.partition(":")
            auth = (user, password)
        tier = _tier(env.get("LUMA_PLAYGROUND_TIER"))
        public_url = env.get("LUMA_PLAYGROUND_PUBLIC_URL", "").strip() or None
        if not public_url and (space_host := env.get("SPACE_HOST", "").strip()):
            public_url = f"https://{space_host}"
        return cls(
            base_url=(env.get("WAVESPEED_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            api_key=ApiKey.parse(env.get("WAVESPEED_API_KEY")),
            timeouts=Timeouts(
                read=float(env.get("LUMA_PLAYGROUND_READ_TIMEOUT") or 30.0),
                deadline=float(env.get("LUMA_PLAYGROUND_DEADLINE") or 30 * 60),
            ),
            data_dir=user_data_dir(env),
            public_url=public_url.rstrip("/") if public_url else None,
            tier=tier.name,
            tasks_per_key=_int(env, "LUMA_PLAYGROUND_TASKS_PER_KEY", tier.concurrency),
            submits_per_minute=_int(env, "LUMA_PLAYGROUND_SUBMITS_PER_MINUTE", tier.submits_per_minute),
            session_running_limit=_int(env, "LUMA_PLAYGROUND_SESSION_RUNNING", 2),
            session_daily_limit=_int(env, "LUMA_PLAYGROUND_SESSION_DAILY", 20),
            session_daily_suggestions=_int(env, "LUMA_PLAYGROUND_SESSION_SUGGESTIONS", 60),
            share=_flag(env.get("LUMA_PLAYGROUND_SHARE")) or _flag(env.get("GRADIO_SHARE")),
            mcp=_flag(env.get("GRADIO_MCP_SERVER")),
            auth=auth,
            space=on_space(env),
            exposed=not is_loopback_host(env.get("GRADIO_SERVER_NAME")),
            event_concurrency=_int(env, "LUMA_PLAYGROUND_EVENT_CONCURRENCY", 128),
            daily_budget=float(env.get("LUMA_PLAYGROUND_DAILY_BUDGET") or DEFAULT_DAILY_BUDGET),
            trusted_proxies=_int(env, "LUMA_PLAYGROUND_TRUSTED_PROXIES", 1 if on_space(env) else 0),
            require_login=_flag(env.get("LUMA_PLAYGROUND_REQUIRE_LOGIN")),
            shared_override=_optional_flag(env.get("LUMA_PLAYGROUND_SHARED")),
            oauth=bool(env.get("OAUTH_CLIENT_ID", "").strip()),
            models=_models(env.get("LUMA_PLAYGROUND_MODELS")),
        )

    @property
    def pace_limits(self) -> PaceLimits:
        """Each key's allowance: the tier's, with the explicit overrides."""
        per_minute = None if self.submits_per_minute is None else max(1, self.submits_per_minute)
        return PaceLimits(concurrency=max(1, self.tasks_per_key), submits_per_minute=per_minute)

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some fields replaced."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def listening_on(self, host: str | None) -> Settings:
        """A copy for a server listening on `host`: an address beyond loopback makes it shared."""
        return self if host is None or is_loopback_host(host) else replace(self, exposed=True)
