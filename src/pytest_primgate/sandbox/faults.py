"""Fault injection: latency, error statuses, every-Nth and seeded-random failures, resets."""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message names the bad key or value."""


class ConnectionResetFault(Exception):
    """Raised by the app when a fault says: close the connection with an RST, answer nothing."""


@dataclass(frozen=True)
class FaultSpec:
    """One fault rule, e.g. ``FaultSpec(path_glob="/store/*", every=3, status=500)``.

    ``latency_ms`` delays every matching request. The other effects (``status``, ``reset``,
    ``malformed_json``) hit the requests selected by ``every`` (the Nth, 2Nth, ... match) or
    ``rate`` (seeded random); with neither set they hit every matching request.
    ``per_url`` counts ``every`` separately for each request target (path and query), so the
    pattern one client sees does not depend on what concurrent clients send (xdist runs).
    ``hits`` (with ``every``) makes the last K of every N matches fail: ``every=3,hits=2`` hits
    requests 2, 3, 5, 6, ... ("two requests in three").
    """

    path_glob: str = "*"
    method: str = "*"
    latency_ms: float = 0
    status: int | None = None
    every: int = 0
    rate: float = 0.0
    reset: bool = False
    malformed_json: bool = False
    seed: int = 0
    per_url: bool = False
    hits: int = 1

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise FaultSpecError("fault spec: latency_ms must be >= 0")
        if self.status is not None and not 100 <= self.status <= 599:
            raise FaultSpecError(f"fault spec: status must be 100-599, got {self.status}")
        if self.every < 0:
            raise FaultSpecError("fault spec: every must be >= 0")
        if not 1 <= self.hits <= max(self.every, 1):
            raise FaultSpecError(
                f"fault spec: hits must be between 1 and every ({self.every}), got {self.hits}"
            )
        if not 0.0 <= self.rate <= 1.0:
            raise FaultSpecError(f"fault spec: rate must be between 0 and 1, got {self.rate}")

    @property
    def has_effect(self) -> bool:
        """True when the rule does more than add latency."""
        return self.status is not None or self.reset or self.malformed_json

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the admin API's format)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_ALIASES = {"path": "path_glob", "latency": "latency_ms", "malformed": "malformed_json"}
_BOOL_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
_FIELDS = {f.name for f in fields(FaultSpec)}


def _convert(key: str, value: Any) -> Any:
    """Coerce one field value (from text or JSON) to its type; clear error on failure."""
    try:
        if key in ("path_glob", "method"):
            if not isinstance(value, str) or not value:
                raise ValueError
            return value.upper() if key == "method" else value
        if key in ("latency_ms", "rate"):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if key in ("every", "seed", "hits"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if key == "status":
            if value is None or (isinstance(value, str) and value.lower() in ("", "none")):
                return None
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        # reset, malformed_json, per_url
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.lower()]
        raise ValueError
    except (TypeError, ValueError):
        raise FaultSpecError(f"fault spec: bad value for {key!r}: {value!r}") from None


def fault_from_mapping(data: Mapping[str, Any]) -> FaultSpec:
    """Build a FaultSpec from a mapping (admin JSON); unknown keys are an error."""
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = _ALIASES.get(raw_key, raw_key)
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS | set(_ALIASES)))
            raise FaultSpecError(f"fault spec: unknown key {raw_key!r} (known: {known})")
        kwargs[key] = _convert(key, value)
    return FaultSpec(**kwargs)


def parse_fault(text: str) -> FaultSpec:
    """Parse ``"path=/store/*,method=GET,every=3,status=500"``; flags may omit ``=true``."""
    data: dict[str, Any] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        data[key.strip()] = value.strip() if sep else "true"
    if not data:
        raise FaultSpecError(f"fault spec: empty spec {text!r}")
    return fault_from_mapping(data)


def parse_faults(items: Iterable[Any]) -> tuple[FaultSpec, ...]:
    """Parse a list whose entries are spec strings, mappings or FaultSpecs."""
    out: list[FaultSpec] = []
    for item in items:
        if isinstance(item, FaultSpec):
            out.append(item)
        elif isinstance(item, str):
            out.append(parse_fault(item))
        elif isinstance(item, Mapping):
            out.append(fault_from_mapping(item))
        else:
            raise FaultSpecError(f"fault spec: expected a string or object, got {item!r}")
    return tuple(out)


@dataclass(frozen=True)
class FaultAction:
    """What the server must do to one request."""

    latency_s: float = 0.0
    status: int | None = None
    reset: bool = False
    malformed_json: bool = False
    rule: int = -1
    """Index of the rule that chose the effect (``-1``: latency only)."""


class _Rule:
    """A FaultSpec with its match counter and random generator."""

    __slots__ = ("count", "method", "per_target", "rng", "spec")

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.method = spec.method.upper()
        self.count = 0
        self.per_target: dict[str, int] = {}
        self.rng = random.Random(spec.seed)

    def matches(self, method: str, path: str) -> bool:
        spec = self.spec
        if self.method != "*" and self.method != method:
            return False
        return spec.path_glob == "*" or fnmatch.fnmatchcase(path, spec.path_glob)

    def fires(self, target: str) -> bool:
        """Count one match and decide whether its effect applies."""
        self.count += 1
        spec = self.spec
        if spec.every > 0:
            seen = self.count
            if spec.per_url:
                seen = self.per_target[target] = self.per_target.get(target, 0) + 1
            return (seen - 1) % spec.every >= spec.every - spec.hits
        if spec.rate > 0.0:
            return self.rng.random() < spec.rate
        return True


class FaultInjector:
    """Thread-safe set of fault rules; ``decide`` is called once per request."""

    def __init__(self, specs: Sequence[FaultSpec] = ()) -> None:
        self._lock = threading.Lock()
        self._rules = [_Rule(s) for s in specs]

    @property
    def specs(self) -> tuple[FaultSpec, ...]:
        """The active rules."""
        return tuple(r.spec for r in self._rules)

    def replace(self, specs: Sequence[FaultSpec]) -> None:
        """Install new rules (fresh counters and random generators)."""
        rules = [_Rule(s) for s in specs]
        with self._lock:
            self._rules = rules

    def reset_counters(self) -> None:
        """Restart counting and random sequences for the current rules."""
        self.replace(self.specs)

    def decide(self, method: str, path: str, target: str = "") -> FaultAction | None:
        """The action for one request, or None when no rule matches."""
        if not self._rules:
            return None
        latency = 0.0
        effect: tuple[int, FaultSpec] | None = None
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(method, path):
                    continue
                latency += rule.spec.latency_ms / 1000.0
                if rule.spec.has_effect and rule.fires(target or path) and effect is None:
                    effect = (index, rule.spec)
        if effect is None:
            return FaultAction(latency_s=latency) if latency else None
        index, spec = effect
        return FaultAction(
            latency_s=latency,
            status=spec.status,
            reset=spec.reset,
            malformed_json=spec.malformed_json,
            rule=index,
        )
