"""Load prim.yaml files: the root registry and per-prim files, merged like prim.sh does.

Root registries (``primitives.yaml`` with ``primitives: [...]``) give base entries; per-prim
files (``packages/<id>/prim.yaml``, ``prims/*.yaml``) are merged over them shallowly, package
keys winning (reference §6.4). Every status of every era is accepted; a status outside
``STATUSES`` (e.g. ``beta``) is kept, hard-gated as live, and reported in
``PrimRegistry.warnings``. Errors name file:line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.limits import DEPTH_MESSAGE, MAX_DEPTH, MAX_YAML_NODES, non_finite
from pytest_primgate.manifests.schema import validator

STATUSES = (
    "idea", "planning", "building", "testing", "deployed", "live", "mainnet", "testnet",
    "hold", "phantom",
)


@dataclass(frozen=True)
class Prim:
    """One prim as the gate sees it."""

    id: str
    name: str
    endpoint: str
    status: str
    threshold: float | None
    note: str
    path: str
    line: int
    """1-based line of the entry (or of the file's first key)."""
    max_retry_rate: float | None = None
    """``gates.max_retry_rate``: percent of requests needing a retry above which it is UNSTABLE."""


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that records the line of every mapping under ``__line__``."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    raw = loader.construct_mapping(node, deep=True)
    mapping: dict[str, Any] = {str(k): v for k, v in raw.items()}
    mapping["__line__"] = node.start_mark.line + 1
    key_lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    mapping["__key_lines__"] = key_lines
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ("__line__", "__key_lines__")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def unknown_status_warning(path: str, line: int | None, field: str, status: str) -> str:
    """``file:line: status: unknown status 'beta' ...; hard-gated as live``."""
    where = f"{path}:{line}" if line is not None else path
    return (f"{where}: {field}: unknown status {status!r} (known: {', '.join(STATUSES)}); "
            "hard-gated as live")


class PrimRegistry:
    """Prims by id, with lookups by plan ``service`` (prim name or id) and endpoint host."""

    def __init__(self, prims: Sequence[Prim], warnings: Sequence[str] = ()) -> None:
        self.warnings: tuple[str, ...] = tuple(warnings)
        """One line per prim file entry whose status is outside ``STATUSES``."""
        self.by_id: dict[str, Prim] = {p.id: p for p in prims}
        self._by_name = {p.name.lower(): p for p in prims if p.name}
        self._by_host = {p.endpoint.lower(): p for p in prims if p.endpoint}

    def __iter__(self) -> Iterator[Prim]:
        return iter(sorted(self.by_id.values(), key=lambda p: p.id))

    def __len__(self) -> int:
        return len(self.by_id)

    def lookup(self, service: str = "", host: str = "") -> Prim | None:
        """The prim a plan test exercises: by ``service`` name or id, else by endpoint host."""
        key = service.strip().lower()
        if key:
            found = self._by_name.get(key) or self.by_id.get(key) or self.by_id.get(
                key.removesuffix(".sh")
            )
            if found is not None:
                return found
        return self._by_host.get(host.strip().lower()) if host else None


class _Refused(Exception):
    """A YAML node graph over a limit; carries the node where it was found."""

    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node = node


def _expanded_size(node: yaml.Node, memo: dict[int, int], open_: set[int], depth: int) -> int:
    """Nodes of ``node`` once every alias is expanded (memoized: linear in the text)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if depth > MAX_DEPTH:
        raise _Refused(node, DEPTH_MESSAGE)
    if key in open_:
        raise _Refused(node, "a YAML alias refers to its own anchor (recursive document)")
    open_.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        children: list[yaml.Node] = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    for child in children:
        size += _expanded_size(child, memo, open_, depth + 1)
        if size > MAX_YAML_NODES:
            raise _Refused(
                node, f"YAML aliases expand to more than {MAX_YAML_NODES} nodes (an alias "
                "bomb?); refused before expanding",
            )
    open_.discard(key)
    memo[key] = size
    return size


def _safe_load(text: str) -> Any:
    """Compose, check depth and alias expansion, and only then construct Python values."""
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set(), 1)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(str(path), None, "", f"cannot read prim file: {exc}") from None
    try:
        return _safe_load(text)
    except _Refused as exc:
        raise ManifestError(str(path), exc.node.start_mark.line + 1, "", str(exc)) from None
    except RecursionError:
        raise ManifestError(str(path), None, "", DEPTH_MESSAGE) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise ManifestError(str(path), None, "", f"invalid YAML value: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ManifestError(str(path), line, "", f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(str(path), None, "", f"invalid YAML: {exc}") from None


def _check(path: Path, entry: dict[str, Any], where: str) -> None:
    plain = _strip(entry)
    found = validator("prim").iter_errors(plain)
    errors = sorted(found, key=lambda e: list(map(str, e.path)))
    if not errors:
        bad = non_finite(plain.get("gates"))
        if bad is None:
            return
        parts = ["gates", *map(str, bad)]
        line = entry.get("__key_lines__", {}).get("gates", entry.get("__line__"))
        field = ".".join([where, *parts]) if where else ".".join(parts)
        raise ManifestError(str(path), line, field, "must be a finite number from 0 to 100")
    error = errors[0]
    parts = [str(p) for p in error.absolute_path]
    line = entry.get("__key_lines__", {}).get(parts[0], entry.get("__line__")) if parts else (
        entry.get("__line__")
    )
    field = ".".join([where, *parts]) if where else ".".join(parts)
    raise ManifestError(str(path), line, field, error.message)


def _status_warning(path: Path, entry: dict[str, Any], where: str) -> str | None:
    status = entry.get("status")
    if not isinstance(status, str) or not status.strip() or status.strip().lower() in STATUSES:
        return None
    line = entry.get("__key_lines__", {}).get("status", entry.get("__line__"))
    field = f"{where}.status" if where else "status"
    return unknown_status_warning(str(path), line, field, status)


def load_prims(paths: Sequence[Path]) -> PrimRegistry:
    """Read registry and package files and merge them into one registry."""
    base: dict[str, tuple[dict[str, Any], Path]] = {}
    packages: dict[str, tuple[dict[str, Any], Path]] = {}
    warnings: list[str] = []
    for path in paths:
        data = _load_yaml(path)
        if data is None:
            continue
        if isinstance(data, dict) and isinstance(data.get("primitives"), list):
            for index, entry in enumerate(data["primitives"]):
                if not isinstance(entry, dict):
                    raise ManifestError(
                        str(path), data["__key_lines__"].get("primitives"),
                        f"primitives[{index}]", "each entry must be a mapping",
                    )
                _check(path, entry, f"primitives[{index}]")
                warnings.append(_status_warning(path, entry, f"primitives[{index}]") or "")
                base[str(entry["id"])] = (entry, path)
        elif isinstance(data, dict):
            _check(path, data, "")
            warnings.append(_status_warning(path, data, "") or "")
            packages[str(data["id"])] = (data, path)
        else:
            raise ManifestError(str(path), 1, "", "a prim file must be a mapping with an id")
    prims: list[Prim] = []
    for prim_id in sorted(set(base) | set(packages)):
        merged: dict[str, Any] = {}
        source_path: Path | None = None
        line = 1
        for source in (base.get(prim_id), packages.get(prim_id)):
            if source is not None:
                merged.update(source[0])
                source_path = source[1]
                line = int(source[0].get("__line__", 1))
        gates = merged.get("gates") or {}
        threshold = gates.get("pass_threshold") if isinstance(gates, dict) else None
        prims.append(Prim(
            id=prim_id,
            name=str(merged.get("name") or f"{prim_id}.sh"),
            endpoint=str(merged.get("endpoint") or ""),
            status=str(merged.get("status") or "").lower(),
            threshold=float(threshold) if threshold is not None else None,
            note=str(merged.get("note") or ""),
            path=str(source_path),
            line=line,
            max_retry_rate=_max_retry_rate(gates),
        ))
    return PrimRegistry(prims, [w for w in warnings if w])


def _max_retry_rate(gates: Any) -> float | None:
    value = gates.get("max_retry_rate") if isinstance(gates, dict) else None
    return float(value) if value is not None else None
