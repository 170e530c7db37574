"""Fault rules: which requests the simulator answers badly on purpose, and how.

A rule `{route, kind, count=1, skip=0, key=null, ...options}` lets `skip` matching requests pass, then
affects `count` of them (-1: all). `key` limits it to requests bearing that key. Kinds and options:

- any route: `status` (`status`, `statuses` cycled, `retry_after` in seconds or as an HTTP-date
  text, `message`), `html` and `empty`
  (`status`, default 502; `retry_after`), `malformed` (a 200 whose JSON is cut short), `drop` (close
  the connection unanswered; `after_processing` runs the request first), `stall` (`seconds`, default
  30, then answer; a submit is processed before the stall unless `before_processing`);
- route `output`: `expired` (404), `truncated` (full Content-Length, then `fraction` (0.5) or `bytes`
  of the body, then close);
- route `submit`, applied to the next created task: `task_failed` (`error_code` 1403, `error`),
  `moderation` (fails with 1200, `error`), `nsfw` (completes flagged), `webhook_lost` (never calls back),
  `slow` (runs `seconds` of wall-clock time, default 120, whatever the time scale: a task that is
  surely still running when a test cancels it);
- route `cancel`: `ignored` (the DELETE answers `deleted` as usual, but a queued or running task goes
  on and completes: "cancellation may not stop generation immediately").
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .._state import key_fingerprint

ROUTES = frozenset(
    {
        "balance",
        "cancel",
        "history",
        "media",
        "models",
        "optimizer",
        "output",
        "price",
        "pricing",
        "result",
        "secret",
        "submit",
        "upload",
        "upload_put",
    }
)
ANY_ROUTE = "any"

#: Kinds that change the HTTP exchange itself; any route.
WIRE_KINDS = frozenset({"status", "html", "empty", "malformed", "drop", "stall"})
#: Kinds that only make sense for the MP4 download.
OUTPUT_KINDS = frozenset({"expired", "truncated"})
#: Kinds that change what happens to the next created task(s); submit only.
OUTCOME_KINDS = frozenset({"task_failed", "moderation", "nsfw", "webhook_lost", "slow"})
#: Kinds that change what a DELETE does to its task; cancel only.
CANCEL_KINDS = frozenset({"ignored"})
KINDS = WIRE_KINDS | OUTPUT_KINDS | OUTCOME_KINDS | CANCEL_KINDS

DEFAULT_STATUS = {"status": 500, "html": 502, "empty": 502, "malformed": 200}
DEFAULT_STALL_S = 30.0
DEFAULT_TRUNCATE_FRACTION = 0.5

_RULE_FIELDS = frozenset({"route", "kind", "count", "skip", "key", "key_fingerprint"})
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "status": (int,),
    "statuses": (list,),
    "retry_after": (int, float, str),
    "message": (str,),
    "after_processing": (bool,),
    "before_processing": (bool,),
    "seconds": (int, float),
    "bytes": (int,),
    "fraction": (int, float),
    "error_code": (int,),
    "error": (str,),
}


class InvalidFault(ValueError):
    """A fault rule the simulator cannot apply."""


@dataclass(slots=True, eq=False)
class FaultRule:
    """One rule: on `route`, let `skip` matching requests pass, then affect `count` of them."""

    id: int
    route: str
    kind: str
    count: int = 1
    skip: int = 0
    key_fingerprint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    seen: int = 0
    applied: int = 0

    def matches(self, route: str, fingerprint: str | None) -> bool:
        """Whether a request on `route` with this key is one this rule looks at."""
        if self.route not in (route, ANY_ROUTE):
            return False
        return self.key_fingerprint is None or self.key_fingerprint == fingerprint

    @property
    def exhausted(self) -> bool:
        """Whether the rule has affected all the requests it was meant to."""
        return self.count != -1 and self.applied >= self.count

    def status(self, default: int | None = None) -> int:
        """The HTTP status to answer with; a `statuses` list is cycled through."""
        statuses = self.options.get("statuses")
        if statuses:
            return int(statuses[(self.applied - 1) % len(statuses)])
        return int(self.options.get("status", default or DEFAULT_STATUS.get(self.kind, 500)))

    def to_json(self) -> dict[str, Any]:
        """The rule as the control API shows it."""
        return {
            "id": self.id,
            "route": self.route,
            "kind": self.kind,
            "count": self.count,
            "skip": self.skip,
            "key_fingerprint": self.key_fingerprint,
            **self.options,
            "seen": self.seen,
            "applied": self.applied,
        }


class FaultBook:
    """The active fault rules, in the order they were added."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, payload: dict[str, Any]) -> FaultRule:
        """Validate and add a rule given as JSON."""
        rule = parse_rule(payload, next(self._ids))
        self._rules.append(rule)
        return rule

    def take(self, route: str, fingerprint: str | None, kinds: frozenset[str]) -> FaultRule | None:
        """The first rule of these kinds that affects this request, counting it on every match."""
        chosen = None
        for rule in self._matching(route, fingerprint, kinds):
            if chosen is None and rule.seen > rule.skip and not rule.exhausted:
                rule.applied += 1
                chosen = rule
        return chosen

    def take_all(self, route: str, fingerprint: str | None, kinds: frozenset[str]) -> list[FaultRule]:
        """Every rule of these kinds that affects this request (outcome rules combine)."""
        chosen = []
        for rule in self._matching(route, fingerprint, kinds):
            if rule.seen > rule.skip and not rule.exhausted:
                rule.applied += 1
                chosen.append(rule)
        return chosen

    def _matching(self, route: str, fingerprint: str | None, kinds: frozenset[str]) -> list[FaultRule]:
        rules = [r for r in self._rules if r.kind in kinds and r.matches(route, fingerprint)]
        for rule in rules:
            rule.seen += 1
        return rules

    def rules(self) -> list[FaultRule]:
        """The rules, oldest first."""
        return list(self._rules)

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()


def parse_rule(payload: dict[str, Any], rule_id: int) -> FaultRule:
    """Build a rule from its JSON form, refusing anything it could not honour."""
    route, kind = payload.get("route"), payload.get("kind")
    if route not in ROUTES and route != ANY_ROUTE:
        raise InvalidFault(f"route must be one of {', '.join(sorted(ROUTES))} or any")
    if kind not in KINDS:
        raise InvalidFault(f"kind must be one of {', '.join(sorted(KINDS))}")
    if kind in OUTPUT_KINDS and route != "output":
        raise InvalidFault(f"kind {kind} applies to route output only")
    if kind in OUTCOME_KINDS and route != "submit":
        raise InvalidFault(f"kind {kind} applies to route submit only")
    if kind in CANCEL_KINDS and route != "cancel":
        raise InvalidFault(f"kind {kind} applies to route cancel only")
    return FaultRule(
        id=rule_id,
        route=route,
        kind=kind,
        count=_count(payload.get("count", 1)),
        skip=_natural(payload.get("skip", 0), "skip"),
        key_fingerprint=_fingerprint(payload),
        options=_options(payload),
    )


def _count(value: Any) -> int:
    if value == -1:
        return -1
    return _natural(value, "count")


def _natural(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidFault(f"{name} must be a non-negative integer")
    return value


def _fingerprint(payload: dict[str, Any]) -> str | None:
    key = payload.get("key")
    if key:
        return key_fingerprint(str(key))
    return payload.get("key_fingerprint") or None


def _options(payload: dict[str, Any]) -> dict[str, Any]:
    options = {name: value for name, value in payload.items() if name not in _RULE_FIELDS}
    for name, value in options.items():
        expected = _OPTION_TYPES.get(name)
        if expected is None:
            raise InvalidFault(f"unknown fault option {name}")
        if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
            raise InvalidFault(f"fault option {name} has the wrong type")
    statuses = options.get("statuses")
    if statuses is not None and not (statuses and all(isinstance(s, int) for s in statuses)):
        raise InvalidFault("statuses must be a non-empty list of HTTP status codes")
    return options
