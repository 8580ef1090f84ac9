"""The sandbox against prim.sh's newest ``routes_map``: every route served, at its declared
status, with a body that validates against the project's schema of the ``api.ts`` type.

Each prim's routes run in dependency order against a real sandbox on loopback, paid by a real
x402 client; documented errors (400 bad body, 403 not yours, 404 gone, 409 conflict) are
produced and checked against the route's ``errors`` list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from eth_account import Account
from eth_account.messages import encode_defunct

from pytest_primgate.sandbox.app import SandboxApp
from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.feedback_routes import INTERNAL_KEY
from pytest_primgate.sandbox.process import SandboxHandle, serve_in_thread
from pytest_primgate.sandbox.route_schemas import route_schemas, served_routes
from pytest_primgate.wallet import iso_now, registration_message
from pytest_primgate.x402.client import X402Client
from pytest_primgate.x402.spend import SpendPolicy

PRIMS = ("wallet", "faucet", "store", "search", "email", "spawn", "infer", "gate", "feedback")
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHzkZrHcwGsUoIW8EAD6jyFlJQyLyBbR2DeYExampleK conf"
Ctx = dict[str, Any]
Value = Any | Callable[[Ctx], Any]


def routes_map(upstream_dir: Path, prim: str) -> dict[str, dict[str, Any]]:
    """``route`` -> its routes_map entry, from ``head/packages/<prim>/prim.yaml``."""
    path = upstream_dir / "prim" / "head" / "packages" / prim / "prim.yaml"
    data = yaml.safe_load(path.read_text())
    return {entry["route"]: entry for entry in data["routes_map"]}


@dataclass
class Step:
    """One request of a prim's scenario; ``status`` None = the routes_map success status."""

    route: str
    params: dict[str, str] = field(default_factory=dict)
    """Path parameter -> context key holding its value."""
    body: Value = None
    raw: bytes | None = None
    query: Value = None
    headers: dict[str, str] = field(default_factory=dict)
    save: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    """Context key -> function of the JSON body."""
    status: int | None = None
    code: str | None = None
    """Expected error code (error steps)."""


def _value(value: Value, ctx: Ctx) -> Any:
    return value(ctx) if callable(value) else value


def registration(account: Any) -> dict[str, str]:
    stamp = iso_now()
    message = encode_defunct(text=registration_message(account.address, stamp))
    signature = Account.sign_message(message, account.key).signature.hex()
    return {"address": account.address, "signature": "0x" + signature.removeprefix("0x"),
            "timestamp": stamp}


def scenario(prim: str) -> list[Step]:
    """Every routes_map route of ``prim`` in dependency order, with documented errors."""
    me = {"address": "me"}
    if prim == "wallet":
        return [
            Step("POST /v1/wallets", body=lambda c: registration(c["account"])),
            Step("POST /v1/wallets", body=lambda c: registration(c["account"]), status=409,
                 code="duplicate_request"),
            Step("POST /v1/wallets", body={"address": "nope"}, status=400,
                 code="invalid_request"),
            Step("POST /v1/wallets", body=lambda c: {**registration(Account.create()),
                                                     "address": c["me"]},
                 status=403, code="forbidden"),
            Step("GET /v1/wallets", save={"listed": lambda b: [w["address"] for w in b["data"]]}),
            Step("GET /v1/wallets/:address", me),
            Step("GET /v1/wallets/:address", {"address": "other"}, status=404,
                 code="not_found"),
            Step("POST /v1/wallets/:address/fund-request", me,
                 body={"amount": "5.00", "reason": "conformance"},
                 save={"fr1": lambda b: b["id"]}),
            Step("POST /v1/wallets/:address/fund-request", me, body={"amount": "1.00"},
                 status=400, code="invalid_request"),
            Step("POST /v1/wallets/:address/fund-request", me,
                 body={"amount": "2.00", "reason": "second"}, save={"fr2": lambda b: b["id"]}),
            Step("GET /v1/wallets/:address/fund-requests", me,
                 save={"frs": lambda b: len(b["data"])}),
            Step("POST /v1/fund-requests/:id/approve", {"id": "fr1"}),
            Step("POST /v1/fund-requests/:id/approve", {"id": "fr1"}, status=409,
                 code="duplicate_request"),
            Step("POST /v1/fund-requests/:id/deny", {"id": "fr2"}, body={"reason": "no"}),
            Step("POST /v1/fund-requests/:id/deny", {"id": "missing"}, status=404,
                 code="not_found"),
            Step("GET /v1/wallets/:address/policy", me),
            Step("PUT /v1/wallets/:address/policy", me, body={"maxPerTx": "1.00"},
                 save={"max_per_tx": lambda b: b["max_per_tx"]}),
            Step("PUT /v1/wallets/:address/policy", me, body={"maxPerTx": 5}, status=400,
                 code="invalid_request"),
            Step("POST /v1/wallets/:address/pause", me, body={"scope": "send"}),
            Step("POST /v1/wallets/:address/pause", me, body={"scope": "everything"},
                 status=400, code="invalid_request"),
            Step("POST /v1/wallets/:address/resume", me, body={}),
            Step("DELETE /v1/wallets/:address", me),
            Step("GET /v1/wallets/:address", me, status=404, code="not_found"),
        ]
    if prim == "faucet":
        other = {"address": "0x" + "ab" * 20}
        return [
            Step("POST /v1/faucet/usdc", body=other),
            Step("POST /v1/faucet/usdc", body={"address": "nope"}, status=400,
                 code="invalid_request"),
            Step("POST /v1/faucet/eth", body=other),
            Step("GET /v1/faucet/status", query=other),
            Step("GET /v1/faucet/treasury"),
            Step("POST /v1/faucet/refill"),
            Step("POST /v1/faucet/refill", status=429, code="rate_limited"),
        ]
    if prim == "store":
        bucket = {"id": "bucket"}
        obj = {"id": "bucket", "key": "key"}
        return [
            Step("POST /v1/buckets", body={"name": "conformance"},
                 save={"bucket": lambda b: b["bucket"]["id"], "key": lambda b: "notes/a.txt"}),
            Step("POST /v1/buckets", body={"name": "x"}, status=400, code="invalid_request"),
            Step("GET /v1/buckets"),
            Step("GET /v1/buckets/:id", bucket),
            Step("PUT /v1/buckets/:id/objects/:key", obj, raw=b"hello sandbox"),
            Step("GET /v1/buckets/:id/objects", bucket),
            Step("GET /v1/buckets/:id/objects/:key", obj),
            Step("POST /v1/buckets/:id/presign", bucket,
                 body=lambda c: {"key": c["key"], "method": "GET"}),
            Step("POST /v1/buckets/:id/presign", bucket, body={"key": "k", "method": "POST"},
                 status=400, code="invalid_request"),
            Step("GET /v1/buckets/:id/quota", bucket),
            Step("PUT /v1/buckets/:id/quota", bucket, body={"quota_bytes": 1_000_000}),
            Step("PUT /v1/buckets/:id/quota", bucket, body={"quota_bytes": "big"}, status=400,
                 code="invalid_request"),
            Step("POST /v1/buckets/:id/quota/reconcile", bucket),
            Step("DELETE /v1/buckets/:id/objects/:key", obj),
            Step("GET /v1/buckets/:id/objects/:key", obj, status=404, code="not_found"),
            Step("DELETE /v1/buckets/:id", bucket),
            Step("GET /v1/buckets/:id", bucket, status=404, code="not_found"),
        ]
    if prim == "search":
        return [
            Step("POST /v1/search", body={"query": "x402 payments", "max_results": 3}),
            Step("POST /v1/search", body={"query": ""}, status=400, code="invalid_request"),
            Step("POST /v1/search/news", body={"query": "base sepolia"}),
            Step("POST /v1/extract", body={"urls": ["https://example.com/a", "nope"]}),
            Step("POST /v1/extract", body={"urls": 3}, status=400, code="invalid_request"),
        ]
    if prim == "email":
        box = {"id": "box"}
        return [
            Step("POST /v1/mailboxes", body={"username": "conformance"},
                 save={"box": lambda b: b["id"], "address": lambda b: b["address"]}),
            Step("POST /v1/mailboxes", body={"username": "conformance"}, status=409,
                 code="username_taken"),
            Step("POST /v1/mailboxes", body={"username": "Bad Name!"}, status=400,
                 code="invalid_request"),
            Step("GET /v1/mailboxes"),
            Step("GET /v1/mailboxes/:id", box),
            Step("POST /v1/mailboxes/:id/send", box,
                 body=lambda c: {"to": c["address"], "subject": "hi", "body": "hello"}),
            Step("POST /v1/mailboxes/:id/send", box, body={"to": "nobody"}, status=400,
                 code="invalid_request"),
            Step("GET /v1/mailboxes/:id/messages", box,
                 save={"msg": lambda b: b["data"][0]["id"]}),
            Step("GET /v1/mailboxes/:id/messages/:msgId", {"id": "box", "msgId": "msg"}),
            Step("POST /v1/mailboxes/:id/renew", box, body={"ttl_ms": 3_600_000}),
            Step("POST /v1/mailboxes/:id/webhooks", box,
                 body={"url": "https://hooks.example.com/in"}, save={"hook": lambda b: b["id"]}),
            Step("POST /v1/mailboxes/:id/webhooks", box,
                 body={"url": "https://hooks.example.com/in"}, status=409, code="conflict"),
            Step("GET /v1/mailboxes/:id/webhooks", box),
            Step("DELETE /v1/mailboxes/:id/webhooks/:whId", {"id": "box", "whId": "hook"}),
            Step("POST /v1/domains", body={"domain": "conformance.example.org"},
                 save={"domain": lambda b: b["id"]}),
            Step("POST /v1/domains", body={"domain": "conformance.example.org"}, status=409,
                 code="conflict"),
            Step("GET /v1/domains"),
            Step("GET /v1/domains/:id", {"id": "domain"}),
            Step("POST /v1/domains/:id/verify", {"id": "domain"}),
            Step("DELETE /v1/domains/:id", {"id": "domain"}),
            Step("GET /v1/domains/:id", {"id": "domain"}, status=404, code="not_found"),
            Step("DELETE /v1/mailboxes/:id", box),
            Step("GET /v1/mailboxes/:id", box, status=404, code="not_found"),
        ]
    if prim == "spawn":
        srv = {"id": "server"}
        return [
            Step("POST /v1/ssh-keys", body={"name": "conf", "public_key": SSH_KEY},
                 save={"key": lambda b: b["id"]}),
            Step("POST /v1/ssh-keys", body={"name": "conf", "public_key": "nope"}, status=400,
                 code="invalid_request"),
            Step("GET /v1/ssh-keys"),
            Step("POST /v1/servers", body=lambda c: {
                "name": "conf", "type": "small", "image": "ubuntu-24.04", "location": "nyc3",
                "ssh_keys": [c["key"]], "sandbox_sshd": "refuse"},
                save={"server": lambda b: b["server"]["id"]}),
            Step("GET /v1/servers"),
            Step("GET /v1/servers/:id", srv),
            Step("POST /v1/servers/:id/stop", srv),
            Step("POST /v1/servers/:id/start", srv),
            Step("POST /v1/servers/:id/reboot", srv),
            Step("POST /v1/servers/:id/resize", srv, body={"type": "medium"}),
            Step("POST /v1/servers/:id/resize", srv, body={}, status=400,
                 code="invalid_request"),
            Step("POST /v1/servers/:id/rebuild", srv, body={"image": "debian-12"}),
            Step("DELETE /v1/servers/:id", srv),
            Step("GET /v1/servers/:id", srv, status=404, code="not_found"),
            Step("DELETE /v1/ssh-keys/:id", {"id": "key"}),
        ]
    if prim == "infer":
        return [
            Step("POST /v1/chat", body={"model": "openai/gpt-4o-mini",
                                        "messages": [{"role": "user", "content": "ping"}]}),
            Step("POST /v1/chat", body={"model": "openai/gpt-4o-mini", "messages": []},
                 status=400, code="invalid_request"),
            Step("POST /v1/embed", body={"model": "openai/text-embedding-3-small",
                                         "input": ["a", "b"]}),
            Step("GET /v1/models"),
        ]
    if prim == "gate":
        return [
            Step("POST /v1/redeem", body=lambda c: {"code": "PRIM-CONF1", "wallet": c["me"]}),
            Step("POST /v1/redeem", body=lambda c: {"code": "PRIM-CONF1", "wallet": c["me"]},
                 status=409, code="code_redeemed"),
            Step("POST /v1/redeem", body=lambda c: {"code": "WHO-KNOWS", "wallet": c["me"]},
                 status=400, code="invalid_code"),
            Step("POST /v1/redeem", body={"code": "PRIM-CONF2"}, status=400,
                 code="invalid_request"),
        ]
    assert prim == "feedback"
    return [
        Step("POST /v1/submit", body={"primitive": "wallet.sh", "type": "bug", "body": "x"}),
        Step("POST /v1/submit", body={"primitive": "wallet.sh", "type": "rant", "body": "x"},
             status=400, code="invalid_request"),
        Step("GET /v1/feed", status=401, code="unauthorized"),
        Step("GET /v1/feed", headers={"x-internal-key": INTERNAL_KEY},
             save={"feed": lambda b: [i["body"] for i in b["data"]]}),
    ]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with serve_in_thread(SandboxConfig(spawn_active_delay=0.0)) as handle:
        yield handle


def run_scenario(sandbox: SandboxHandle, prim: str,
                 table: dict[str, dict[str, Any]]) -> tuple[Ctx, set[str]]:
    """Run ``prim``'s steps; returns the context and the routes answered with success."""
    account = Account.create()
    funded = httpx.post(sandbox.prim_url("faucet") + "/v1/faucet/usdc",
                        json={"address": account.address}, timeout=5)
    assert funded.status_code == 200, funded.text
    schemas = route_schemas()[prim]["routes"]
    ctx: Ctx = {"account": account, "me": account.address, "other": Account.create().address,
                "missing": "fr_999999"}
    succeeded: set[str] = set()
    with X402Client(account, SpendPolicy(), timeout=10.0, base_url=sandbox.url) as client:
        for i, step in enumerate(scenario(prim)):
            method, template = step.route.split(" ", 1)
            path = template
            for name, key in step.params.items():
                path = path.replace(f":{name}", str(ctx[key]))
            where = f"{prim} step {i}: {step.route} -> {path}"
            body = _value(step.body, ctx)
            response = client.request(
                method, f"/{prim}{path}", params=_value(step.query, ctx),
                headers=step.headers,
                content=step.raw if step.raw is not None else (
                    None if body is None else json.dumps(body).encode()),
            )
            declared = table[step.route]
            if step.status is None:
                assert response.status_code == declared["status"], (where, response.text)
                assert schemas[step.route]["status"] == declared["status"], where
                schema = schemas[step.route]["response"]
                if "contentMediaType" not in schema:
                    jsonschema.validate(response.json(), schema)
                succeeded.add(step.route)
            else:
                assert response.status_code == step.status, (where, response.text)
                code = response.json()["error"]["code"]
                assert code == step.code, (where, response.text)
                documented = {(e["status"], e["code"]) for e in declared.get("errors", [])}
                assert (step.status, code) in documented, f"{where}: undocumented error"
            if response.headers.get("content-type", "").startswith("application/json"):
                for key, getter in step.save.items():
                    ctx[key] = getter(response.json())
    return ctx, succeeded


@pytest.mark.parametrize("prim", PRIMS)
def test_every_route_of_prim_serves_its_status_and_schema(
    sandbox: SandboxHandle, upstream_dir: Path, prim: str
) -> None:
    table = routes_map(upstream_dir, prim)
    ctx, succeeded = run_scenario(sandbox, prim, table)
    assert succeeded == set(table), f"routes not exercised: {sorted(set(table) - succeeded)}"
    if prim == "wallet":
        assert ctx["listed"] == [ctx["me"]] and ctx["frs"] == 2 and ctx["max_per_tx"] == "1.00"
    if prim == "feedback":
        assert ctx["feed"] == ["x"]


def test_served_routes_and_schemas_cover_every_routes_map_route(upstream_dir: Path) -> None:
    app = SandboxApp()
    try:
        served = {(r.prim, r.key) for r in served_routes(app)}
    finally:
        app.close()
    schemas = route_schemas()
    declared = {(prim, route) for prim in PRIMS for route in routes_map(upstream_dir, prim)}
    assert len(declared) == 66
    assert declared <= served, sorted(declared - served)
    for prim, route in declared:
        entry = routes_map(upstream_dir, prim)[route]
        assert schemas[prim]["routes"][route]["status"] == entry["status"], (prim, route)
        jsonschema.Draft202012Validator.check_schema(schemas[prim]["routes"][route]["response"])
    assert set(schemas) == set(PRIMS)


def test_paid_routes_carry_the_llms_txt_price(upstream_dir: Path) -> None:
    """Prices come from each prim's published llms.txt (``Price: $X`` under a route)."""
    import re

    app = SandboxApp()
    try:
        prices = {(r.prim, r.key): r.price for r in served_routes(app)}
    finally:
        app.close()
    checked = 0
    for path in sorted((upstream_dir / "prim" / "head" / "site").glob("*/llms.txt")):
        text = path.read_text()
        for m in re.finditer(r"^### (GET|POST|PUT|DELETE) (\S+)\n(.*?)(?=^### |\Z)", text,
                             re.M | re.S):
            price = re.search(r"^Price: \$(\S+)$", m.group(3), re.M)
            key = (path.parent.name, f"{m.group(1)} {m.group(2)}")
            if price and key in prices:
                assert prices[key] == price.group(1), key
                checked += 1
    assert checked == 54
    # infer.sh's llms.txt states no per-route price: its prim.yaml pricing ops do
    assert [prices[("infer", r)] for r in ("POST /v1/chat", "POST /v1/embed", "GET /v1/models")
            ] == ["0.01", "0.0001", "0.001"]
    free = [(prim, route) for prim in PRIMS
            for route, entry in routes_map(upstream_dir, prim).items()
            if str(entry.get("notes", "")).startswith("Free.")]
    assert len(free) == 8
    assert all(prices[key] is None for key in free), [k for k in free if prices[k] is not None]


def test_health_for_every_prim_of_primitives_yaml(
    sandbox: SandboxHandle, upstream_dir: Path
) -> None:
    data = yaml.safe_load((upstream_dir / "prim" / "head" / "primitives.yaml").read_text())
    ids = [p["id"] for p in data["primitives"]]
    assert len(ids) == 32
    with httpx.Client(timeout=5) as http:
        for prim in ids:
            response = http.get(sandbox.prim_url(prim) + "/")
            assert response.status_code == 200, prim
            body = response.json()
            assert (body["service"], body["status"]) == (f"{prim}.sh", "ok"), prim


def test_primgate_sandbox_routes_lists_every_routes_map_route(
    upstream_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_primgate.cli import main

    assert main(["sandbox", "--routes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "67 routes of 9 prims, 4 more under every prim id"
    listed = {" ".join(line.split()[:2]) for line in lines[:-1]}
    for prim in PRIMS:
        for route in routes_map(upstream_dir, prim):
            method, path = route.split(" ", 1)
            assert f"{method} /{prim}{path}" in listed, route
    assert "POST   /email/v1/mailboxes  0.05 USDC" in lines
    assert "POST   /gate/v1/redeem  free" in lines
    assert "GET    /<prim>/llms.txt  free" in lines


def test_packaged_schemas_match_their_generator(repo_dir: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(repo_dir / "scripts" / "sandbox_schemas.py"),
                           "--check"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(route_schemas()) == sorted(PRIMS)


def _payer(sandbox: SandboxHandle, account: Any) -> X402Client:
    funded = httpx.post(sandbox.prim_url("faucet") + "/v1/faucet/usdc",
                        json={"address": account.address}, timeout=5)
    assert funded.status_code == 200, funded.text
    return X402Client(account, SpendPolicy(), timeout=10.0, base_url=sandbox.url)


def test_another_wallets_resources_are_403_as_documented(
    sandbox: SandboxHandle, upstream_dir: Path
) -> None:
    me = Account.create()
    with _payer(sandbox, me) as owner, _payer(sandbox, Account.create()) as stranger:
        assert owner.post("/wallet/v1/wallets", json=registration(me)).status_code == 201
        bucket = owner.post("/store/v1/buckets", json={"name": "mine"}).json()["bucket"]["id"]
        box = owner.post("/email/v1/mailboxes", json={}).json()["id"]
        checks = [
            ("wallet", "GET /v1/wallets/:address", f"/v1/wallets/{owner.address}"),
            ("wallet", "PUT /v1/wallets/:address/policy", f"/v1/wallets/{owner.address}/policy"),
            ("store", "GET /v1/buckets/:id", f"/v1/buckets/{bucket}"),
            ("store", "DELETE /v1/buckets/:id", f"/v1/buckets/{bucket}"),
            ("email", "GET /v1/mailboxes/:id/messages", f"/v1/mailboxes/{box}/messages"),
            ("email", "DELETE /v1/mailboxes/:id", f"/v1/mailboxes/{box}"),
        ]
        for prim, route, path in checks:
            method = route.split(" ", 1)[0]
            response = stranger.request(method, f"/{prim}{path}", json={})
            assert response.status_code == 403, (route, response.text)
            documented = {(e["status"], e["code"])
                          for e in routes_map(upstream_dir, prim)[route]["errors"]}
            assert (403, response.json()["error"]["code"]) in documented, route
        # the owner's things are untouched
        assert owner.get(f"/store/v1/buckets/{bucket}").status_code == 200
        assert owner.get(f"/email/v1/mailboxes/{box}").status_code == 200
