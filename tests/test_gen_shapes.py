"""The pure parts of `primgate gen`: JSON Schema -> shape, schema files, route matching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate.checks import match_shape
from pytest_primgate.generate.routes import covering_route, match_score, param_var, split_path
from pytest_primgate.generate.shapes import (
    id_capture,
    load_route_schemas,
    route_template,
    schema_to_shape,
)
from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.routes_map import RouteEntry

BUCKET = {
    "type": "object",
    "required": ["id", "name", "location", "usage_bytes", "tags", "owner"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "location": {"type": ["string", "null"]},
        "usage_bytes": {"type": "integer", "minimum": 0},
        "quota_bytes": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "owner": {"$ref": "#/$defs/owner"},
    },
    "$defs": {"owner": {"type": "object", "required": ["address", "kind"],
                        "properties": {"address": {"type": "string"},
                                       "kind": {"const": "wallet"}}}},
}


def test_object_schema_keeps_required_typed_fields() -> None:
    assert schema_to_shape(BUCKET) == {
        "id": "non-empty string", "name": "string", "usage_bytes": "number >= 0",
        "tags": "array (non-empty)", "owner": {"address": "string", "kind": "wallet"},
    }


@pytest.mark.parametrize(("schema", "shape"), [
    ({"type": "boolean"}, "boolean"),
    ({"type": "number", "minimum": 2.5}, "number >= 2.5"),
    ({"type": "array"}, "array"),
    ({"type": "array", "items": {"type": "object", "required": ["url"],
                                 "properties": {"url": {"type": "string"}}}}, [{"url": "string"}]),
    ({"enum": ["a", "b"]}, "string"),
    ({"enum": ["only"]}, "only"),
    ({"allOf": [{"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
                {"type": "object", "required": ["b"], "properties": {"b": {"type": "number"}}}]},
     {"a": "string", "b": "number"}),
    ({"anyOf": [{"type": "string"}, {"type": "null"}]}, None),
    ({"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]}, "string"),
    ({"type": "object", "properties": {"optional": {"type": "string"}}}, None),
    ({"type": "object", "required": ["inner"], "properties": {"inner": {"type": "object"}}},
     {"inner": {}}),
    ({}, None),
    (None, None),
])
def test_schema_words(schema: Any, shape: Any) -> None:
    assert schema_to_shape(schema) == shape


def test_derived_shape_accepts_a_conforming_body_and_names_a_wrong_one() -> None:
    shape = schema_to_shape(BUCKET)
    body = {"id": "b1", "name": "n", "location": None, "usage_bytes": 0, "tags": ["x"],
            "owner": {"address": "0xabc", "kind": "wallet"}, "extra": 1}
    assert match_shape(body, shape) is None
    assert match_shape({**body, "usage_bytes": "0"}, shape) == (
        "$.usage_bytes: expected number, got string")


def test_id_capture_paths() -> None:
    assert id_capture(BUCKET) == "$.id"
    wrapped = {"type": "object", "required": ["bucket"],
               "properties": {"bucket": {"type": "object", "properties": {"id": {}}}}}
    assert id_capture(wrapped) == "$.bucket.id"
    assert id_capture(None) == "$.id"


def test_schema_file_loader(tmp_path: Path) -> None:
    assert load_route_schemas(tmp_path, "store") == {}
    (tmp_path / "store.json").write_text(json.dumps({"prim": "store", "routes": {
        "GET /v1/buckets/{id}": {"status": 200, "response": BUCKET},
        "post /v1/buckets/:id/quota/reconcile": {"status": 200, "response": {}},
    }}))
    loaded = load_route_schemas(tmp_path, "store")
    assert set(loaded) == {"GET /v1/buckets/:param", "POST /v1/buckets/:param/quota/reconcile"}
    assert loaded["GET /v1/buckets/:param"]["response"] == BUCKET
    (tmp_path / "bad.json").write_text('{"prim": "bad",\n "routes": [}')
    with pytest.raises(ManifestError) as info:
        load_route_schemas(tmp_path, "bad")
    assert str(info.value).startswith(f"{tmp_path / 'bad.json'}:2: invalid JSON: ")


def test_route_templates() -> None:
    assert route_template("/v1/buckets/{id}/objects/{key:path}") == (
        "/v1/buckets/:param/objects/:param")
    assert route_template("/v1/buckets/:id/") == "/v1/buckets/:param"
    assert route_template("/") == "/"


def route(key: str) -> RouteEntry:
    method, path = key.split(" ")
    return RouteEntry("store", method, path, 200, "", "", "", True, "store.yaml", 1)


ROUTES = [route("GET /v1/buckets/:id"), route("GET /v1/buckets/search"),
          route("GET /v1/buckets/:id/objects/:key")]


@pytest.mark.parametrize(("endpoint", "covered"), [
    ("https://store.prim.sh/v1/buckets/{{bucket_id}}", "GET /v1/buckets/:id"),
    ("https://store.prim.sh/v1/buckets/search?q=1", "GET /v1/buckets/search"),
    ("https://store.prim.sh/v1/buckets/{{b}}/objects/hello.txt",
     "GET /v1/buckets/:id/objects/:key"),
    ("https://store.prim.sh/v1/buckets/abc", "GET /v1/buckets/:id"),
    ("https://store.prim.sh/v1/{{version}}/x", None),
    ("https://search.prim.sh/v1/buckets/{{bucket_id}}", None),
])
def test_which_route_a_test_covers(endpoint: str, covered: str | None) -> None:
    found = covering_route({"method": "GET", "endpoint": endpoint}, "store.prim.sh", ROUTES)
    assert (found.key if found else None) == covered


def test_template_segment_never_matches_a_literal_route_segment() -> None:
    assert match_score(["v1", "buckets"], ["v1", "{{x}}"]) is None
    assert match_score([":a", "b"], ["{{x}}", "b"]) == 1


def test_param_variable_names() -> None:
    segments = split_path("/v1/mailboxes/:id/webhooks/:whId")
    assert param_var("email", segments, 2) == "mailbox_id"
    assert param_var("email", segments, 4) == "webhook_id"
    assert param_var("spawn", split_path("/v1/ssh-keys/:id"), 2) == "ssh_key_id"
    assert param_var("wallet", split_path("/v1/wallets/:address"), 2) == "agent_address"
    assert param_var("x", split_path("/v1/things/:thingRef"), 2) == "thing_ref"
