"""A plan written for prim.sh's newest API runs green against the sandbox through the plugin.

Every wallet, store and email route of ``head/`` runs once, in dependency order: create, read,
list, update, delete, then read-after-delete answers 404.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.plans import plan, results, t, write

PAID = "x402 paid."
W = "https://wallet.prim.sh"
S = "https://store.prim.sh"
E = "https://email.prim.sh"


def paid(tid: str, endpoint: str, service: str, **kw: Any) -> dict[str, Any]:
    return t(tid, endpoint, service=service, notes=PAID, **kw)


def wallet_tests() -> list[dict[str, Any]]:
    me = f"{W}/v1/wallets/{{{{agent_address}}}}"
    w = "wallet.sh"
    return [
        t("WA-1", f"{W}/v1/wallets", service=w, method="POST", status=201,
          input={"address": "{{agent_address}}", "signature": "{{eip191_sig}}",
                 "timestamp": "{{iso_timestamp}}"},
          notes="Free. 409 = already registered, counts as pass."),
        paid("WA-2", me, w, body={"address": "{{agent_address}}", "paused": False},
             depends_on=["WA-1"]),
        paid("WA-3", f"{W}/v1/wallets", w, body={"data": "array (non-empty)"},
             depends_on=["WA-1"]),
        paid("WA-4", f"{me}/policy", w, method="PUT", input={"maxPerTx": "1.00"},
             body={"max_per_tx": "1.00"}, depends_on=["WA-2"]),
        paid("WA-5", f"{me}/policy", w, body={"max_per_tx": "1.00", "max_per_day": None},
             depends_on=["WA-4"]),
        paid("WA-6", f"{me}/fund-request", w, method="POST",
             input={"amount": "5.00", "reason": "smoke"}, body={"status": "pending"},
             captures={"fr_id": "$.id"}, depends_on=["WA-2"]),
        paid("WA-7", f"{me}/fund-requests", w, body={"data": [{"id": "{{fr_id}}"}]},
             depends_on=["WA-6"]),
        paid("WA-8", f"{W}/v1/fund-requests/{{{{fr_id}}}}/approve", w, method="POST",
             body={"id": "{{fr_id}}", "status": "approved"}, depends_on=["WA-7"]),
        paid("WA-9", f"{me}/fund-request", w, method="POST",
             input={"amount": "1.00", "reason": "again"}, captures={"fr2_id": "$.id"},
             depends_on=["WA-8"]),
        paid("WA-10", f"{W}/v1/fund-requests/{{{{fr2_id}}}}/deny", w, method="POST",
             input={"reason": "no"}, body={"status": "denied", "reason": "no"},
             depends_on=["WA-9"]),
        paid("WA-11", f"{me}/pause", w, method="POST", input={"scope": "all"},
             body={"paused": True, "scope": "all"}, depends_on=["WA-5", "WA-10"]),
        paid("WA-12", f"{me}/resume", w, method="POST", input={},
             body={"paused": False}, depends_on=["WA-11"]),
        paid("WA-13", me, w, method="DELETE", body={"deactivated": True},
             depends_on=["WA-3", "WA-12"]),
        paid("WA-14", me, w, status=404, body={"error": {"code": "not_found"}},
             depends_on=["WA-13"]),
    ]


def store_tests() -> list[dict[str, Any]]:
    b = f"{S}/v1/buckets/{{{{bucket_id}}}}"
    s = "store.sh"
    return [
        paid("ST-1", f"{S}/v1/buckets", s, method="POST", status=201,
             input={"name": "{{test_prefix}}-bucket"},
             body={"bucket": {"name": "{{test_prefix}}-bucket", "is_public": False}},
             captures={"bucket_id": "$.bucket.id"}),
        paid("ST-2", b, s, body={"id": "{{bucket_id}}", "usage_bytes": 0},
             depends_on=["ST-1"]),
        paid("ST-3", f"{S}/v1/buckets", s, body={"data": [{"id": "{{bucket_id}}"}]},
             depends_on=["ST-1"]),
        paid("ST-4", f"{b}/objects/notes/a.txt", s, method="PUT", input="hello {{runner}}",
             body={"key": "notes/a.txt", "size": 14}, depends_on=["ST-1"]),
        paid("ST-5", f"{b}/objects", s, body={"data": [{"key": "notes/a.txt"}]},
             depends_on=["ST-4"]),
        paid("ST-6", f"{b}/objects/notes/a.txt", s, body_equals="hello primgate",
             depends_on=["ST-4"]),
        paid("ST-7", f"{b}/presign", s, method="POST",
             input={"key": "notes/a.txt", "method": "GET"},
             body={"url": "non-empty string", "method": "GET"}, depends_on=["ST-4"]),
        paid("ST-8", f"{b}/quota", s, body={"usage_bytes": "number >= 1"},
             depends_on=["ST-4"]),
        paid("ST-9", f"{b}/quota", s, method="PUT", input={"quota_bytes": 1048576},
             body={"quota_bytes": 1048576}, depends_on=["ST-8"]),
        paid("ST-10", f"{b}/quota/reconcile", s, method="POST",
             body={"actual_bytes": 14}, depends_on=["ST-9"]),
        paid("ST-11", f"{b}/objects/notes/a.txt", s, method="DELETE",
             body={"status": "deleted"}, depends_on=["ST-5", "ST-6", "ST-7", "ST-10"]),
        paid("ST-12", f"{b}/objects/notes/a.txt", s, status=404, depends_on=["ST-11"]),
        paid("ST-13", b, s, method="DELETE", depends_on=["ST-12", "ST-2", "ST-3"]),
        paid("ST-14", b, s, status=404, body={"error": {"code": "not_found"}},
             depends_on=["ST-13"]),
    ]


def email_tests() -> list[dict[str, Any]]:
    m = f"{E}/v1/mailboxes/{{{{box_id}}}}"
    d = f"{E}/v1/domains/{{{{domain_id}}}}"
    e = "email.sh"
    return [
        paid("EM-1", f"{E}/v1/mailboxes", e, method="POST", status=201,
             input={"username": "{{test_prefix}}-box"},
             body={"username": "{{test_prefix}}-box", "status": "active"},
             captures={"box_id": "$.id", "box_address": "$.address"}),
        paid("EM-2", m, e, body={"id": "{{box_id}}", "address": "{{box_address}}"},
             depends_on=["EM-1"]),
        paid("EM-3", f"{E}/v1/mailboxes", e, body={"data": [{"id": "{{box_id}}"}]},
             depends_on=["EM-1"]),
        paid("EM-4", f"{m}/send", e, method="POST",
             input={"to": "{{box_address}}", "subject": "smoke", "body": "hello inbox"},
             body={"status": "sent"}, depends_on=["EM-1"]),
        paid("EM-5", f"{m}/messages", e, body={"data": [{"subject": "smoke"}]},
             captures={"msg_id": "$.data[0].id"}, depends_on=["EM-4"]),
        paid("EM-6", f"{m}/messages/{{{{msg_id}}}}", e,
             body={"id": "{{msg_id}}", "text_body": "hello inbox"}, depends_on=["EM-5"]),
        paid("EM-7", f"{m}/renew", e, method="POST", input={"ttl_ms": 3600000},
             body={"expires_at": "non-empty string"}, depends_on=["EM-2"]),
        paid("EM-8", f"{m}/webhooks", e, method="POST", status=201,
             input={"url": "https://hooks.example.com/{{test_prefix}}"},
             captures={"webhook_id": "$.id"}, depends_on=["EM-1"]),
        paid("EM-9", f"{m}/webhooks", e, body={"data": [{"id": "{{webhook_id}}"}]},
             depends_on=["EM-8"]),
        paid("EM-10", f"{m}/webhooks/{{{{webhook_id}}}}", e, method="DELETE",
             body={"deleted": True}, depends_on=["EM-9"]),
        paid("EM-11", f"{E}/v1/domains", e, method="POST", status=201,
             input={"domain": "{{test_prefix}}.example.org"},
             body={"required_records": "array (non-empty)"}, captures={"domain_id": "$.id"}),
        paid("EM-12", f"{E}/v1/domains", e, body={"data": [{"id": "{{domain_id}}"}]},
             depends_on=["EM-11"]),
        paid("EM-13", d, e, body={"domain": "{{test_prefix}}.example.org"},
             depends_on=["EM-11"]),
        paid("EM-14", f"{d}/verify", e, method="POST", body={"status": "verified"},
             depends_on=["EM-13"]),
        paid("EM-15", d, e, method="DELETE", body={"deleted": True},
             depends_on=["EM-12", "EM-14"]),
        paid("EM-16", d, e, status=404, depends_on=["EM-15"]),
        paid("EM-17", m, e, method="DELETE", body={"deleted": True},
             depends_on=["EM-3", "EM-6", "EM-7", "EM-10"]),
        paid("EM-18", m, e, status=404, body={"error": {"code": "not_found"}},
             depends_on=["EM-17"]),
    ]


def test_plan_of_every_wallet_store_email_route_runs_green(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"store": store_tests(), "email": email_tests(),
                               "wallet": wallet_tests()}))
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "-p", "no:cacheprovider", "--ci",
        "--primgate-results-dir", "out", "-v")
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.assert_outcomes(passed=46)
    data = results(pytester.path / "out")
    outcomes = {x["test_id"]: x["outcome"] for x in data["tests"]}
    assert set(outcomes.values()) == {"passed"} and len(outcomes) == 46
    order = [line.split("::")[2].split()[0] for line in result.outlines
             if line.startswith("smoke-test-plan.json::") and " PASSED" in line]
    assert len(order) == 46
    for first, then in (("ST-1", "ST-14"), ("EM-1", "EM-18"), ("WA-13", "WA-14")):
        assert order.index(first) < order.index(then)
