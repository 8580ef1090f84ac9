"""Response JSON Schema -> plan body shape (pure), and the loader of per-prim schema files.

Schema files (``sandbox/schemas/<prim>.json``):
``{"prim": "<id>", "routes": {"<METHOD> <path template>": {"status": N, "response": {...}}}}``.
Only what a shape can state is kept: required properties, types, constants, ``minLength``,
``minItems``, ``minimum``. A nullable or untyped value has no shape token and is left out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pytest_primgate.manifests.errors import ManifestError

_PARAM = re.compile(r"^(?::\w+|\{[^}/]+\})$")


def route_template(path: str) -> str:
    """``/v1/buckets/{id}`` and ``/v1/buckets/:id`` -> ``/v1/buckets/:param``."""
    segments = [":param" if _PARAM.match(s) else s for s in path.strip().split("/")]
    return "/".join(segments).rstrip("/") or "/"


def _resolve(schema: Any, root: Any) -> Any:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
        ref = schema["$ref"]
        if not ref.startswith("#"):
            return {}
        target: Any = root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        schema, seen = target if isinstance(target, dict) else {}, seen + 1
    return schema


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _literal(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else None


def _branches(schema: dict[str, Any], root: Any) -> Any:
    options = [_resolve(s, root) for s in schema.get("anyOf") or schema.get("oneOf") or []]
    if any(isinstance(o, dict) and o.get("type") == "null" for o in options):
        return None
    shapes = [_shape(o, root) for o in options]
    if shapes and all(s == shapes[0] for s in shapes) and shapes[0] is not None:
        return shapes[0]
    return None


def _object(schema: dict[str, Any], root: Any) -> dict[str, Any]:
    props = schema.get("properties") or {}
    required = [r for r in schema.get("required") or [] if isinstance(r, str)]
    out: dict[str, Any] = {}
    for name in required:
        sub = props.get(name) if isinstance(props, dict) else None
        if sub is None:
            continue
        shape = _shape(_resolve(sub, root), root)
        if shape is not None:
            out[name] = shape
    return out


def _shape(schema: Any, root: Any) -> Any:
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return _literal(schema["const"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        values = schema["enum"]
        if len(values) == 1:
            return _literal(values[0])
        return "string" if all(isinstance(v, str) for v in values) else None
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            sub = _shape(_resolve(part, root), root)
            if isinstance(sub, dict):
                merged.update(sub)
        return merged
    if "anyOf" in schema or "oneOf" in schema:
        return _branches(schema, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        if "null" in kind or len(kind) != 1:
            return None
        kind = kind[0]
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        return _object(schema, root)
    if kind == "array":
        items = _shape(_resolve(schema.get("items"), root), root)
        if isinstance(items, dict | list) and items:
            return [items]
        return "array (non-empty)" if int(schema.get("minItems") or 0) >= 1 else "array"
    if kind == "string":
        return "non-empty string" if int(schema.get("minLength") or 0) >= 1 else "string"
    if kind in ("number", "integer"):
        minimum = schema.get("minimum")
        if isinstance(minimum, int | float) and not isinstance(minimum, bool):
            return f"number >= {_number(minimum)}"
        return "number"
    if kind == "boolean":
        return "boolean"
    return None


def schema_to_shape(schema: Any) -> Any:
    """The plan ``expected.body`` shape a response schema implies; None when it implies none
    (no schema, a nullable or untyped body, or an object without required properties)."""
    shape = _shape(_resolve(schema, schema), schema)
    return None if shape == {} else shape


def id_capture(schema: Any) -> str:
    """JSONPath of a created resource's id: ``$.id``, else ``$.<prop>.id`` of a required
    object property that has an ``id``; ``$.id`` when the schema says nothing."""
    root = _resolve(schema, schema)
    props = root.get("properties") if isinstance(root, dict) else None
    if not isinstance(props, dict) or "id" in props:
        return "$.id"
    for name in root.get("required") or []:
        sub = _resolve(props.get(name), schema)
        if isinstance(sub, dict) and "id" in (sub.get("properties") or {}):
            return f"$.{name}.id"
    return "$.id"


def load_route_schemas(directory: Path, prim: str) -> dict[str, dict[str, Any]]:
    """``{"METHOD /template": {"status", "response"}}`` from ``<directory>/<prim>.json``
    (templates as ``route_template`` writes them); empty when the file does not exist."""
    path = directory / f"{prim}.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(str(path), exc.lineno, "", f"invalid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(str(path), None, "", f"cannot read schema file: {exc}") from None
    routes = data.get("routes") if isinstance(data, dict) else None
    if not isinstance(routes, dict):
        raise ManifestError(str(path), 1, "routes", "expected an object of routes")
    out: dict[str, dict[str, Any]] = {}
    for key, value in routes.items():
        method, _, route = str(key).strip().partition(" ")
        if isinstance(value, dict) and route:
            out[f"{method.upper()} {route_template(route)}"] = value
    return out
