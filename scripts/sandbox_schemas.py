"""Write ``src/pytest_primgate/sandbox/schemas/<prim>.json``: success-body JSON Schemas per route.

The schemas are the project's own transcription of prim.sh's ``api.ts`` types (zod objects:
every field required unless ``.optional()``, ``.nullable()`` adds null, extra keys allowed).
List types that ``api.ts`` names but does not define (``BucketListResponse``, ...) are
``{data: [item], pagination: {...}}``, as prim.sh's services answer. Run after editing:
``python scripts/sandbox_schemas.py`` (``--check`` exits 1 when a file is out of date).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "src" / "pytest_primgate" / "sandbox" / "schemas"

Schema = dict[str, Any]
S: Schema = {"type": "string"}
N: Schema = {"type": "number"}
B: Schema = {"type": "boolean"}


def null(schema: Schema) -> Schema:
    """``.nullable()``."""
    return {"anyOf": [schema, {"type": "null"}]}


def lit(value: Any) -> Schema:
    """``z.literal(value)``."""
    return {"const": value}


def enum(*values: str) -> Schema:
    """``z.enum([...])``."""
    return {"enum": list(values)}


def arr(items: Schema) -> Schema:
    """``z.array(items)``."""
    return {"type": "array", "items": items}


class Opt:
    """Marks an ``.optional()`` field."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema


def obj(**fields: Schema | Opt) -> Schema:
    """``z.object({...})``: required unless wrapped in ``Opt``."""
    props = {k: (v.schema if isinstance(v, Opt) else v) for k, v in fields.items()}
    required = [k for k, v in fields.items() if not isinstance(v, Opt)]
    return {"type": "object", "properties": props, "required": required}


def listing(item: Schema, pagination: Schema | None = None) -> Schema:
    """A ``{data, pagination}`` list of ``item``."""
    return obj(data=arr(item), pagination=pagination or {"type": "object"})


CURSOR = obj(cursor=null(S))
RAW: Schema = {"contentMediaType": "application/octet-stream",
               "description": "raw bytes, not JSON"}

# -- wallet ---------------------------------------------------------------------------------
W_ITEM = obj(address=S, chain=S, balance=S, eth_balance=S, funded=B, paused=B, created_at=S)
SPENDING = obj(max_per_tx=null(S), max_per_day=null(S), daily_spent=S, daily_reset_at=S)
FUND_REQUEST = obj(id=S, wallet_address=S, amount=S, reason=S,
                   status=enum("pending", "approved", "denied"), created_at=S)
POLICY = obj(wallet_address=S, max_per_tx=null(S), max_per_day=null(S),
             allowed_primitives=null(arr(S)), daily_spent=S, daily_reset_at=S)
SCOPE = enum("all", "send", "swap")
WALLET = {
    "POST /v1/wallets": (201, obj(address=S, chain=S, label=null(S), registered_at=S,
                                  created_at=S)),
    "GET /v1/wallets": (200, listing(W_ITEM, CURSOR)),
    "GET /v1/wallets/:address": (200, obj(
        address=S, chain=S, balance=S, eth_balance=S, funded=B, paused=B, created_by=S,
        policy=null(SPENDING), created_at=S)),
    "DELETE /v1/wallets/:address": (200, obj(address=S, deactivated=lit(True),
                                             deactivated_at=S)),
    "POST /v1/wallets/:address/fund-request": (200, FUND_REQUEST),
    "GET /v1/wallets/:address/fund-requests": (200, listing(FUND_REQUEST, CURSOR)),
    "POST /v1/fund-requests/:id/approve": (200, obj(
        id=S, status=lit("approved"), funding_address=S, amount=S, chain=S, approved_at=S)),
    "POST /v1/fund-requests/:id/deny": (200, obj(id=S, status=lit("denied"), reason=null(S),
                                                 denied_at=S)),
    "GET /v1/wallets/:address/policy": (200, POLICY),
    "PUT /v1/wallets/:address/policy": (200, POLICY),
    "POST /v1/wallets/:address/pause": (200, obj(wallet_address=S, paused=lit(True),
                                                 scope=SCOPE, paused_at=S)),
    "POST /v1/wallets/:address/resume": (200, obj(wallet_address=S, paused=lit(False),
                                                  scope=SCOPE, resumed_at=S)),
}

# -- faucet ---------------------------------------------------------------------------------
DRIP = obj(tx_hash=S, amount=S, currency=S, chain=S, source=Opt(S))
AVAILABILITY = obj(available=B, retry_after_ms=N)
FAUCET = {
    "POST /v1/faucet/usdc": (200, DRIP),
    "POST /v1/faucet/eth": (200, DRIP),
    "GET /v1/faucet/status": (200, obj(address=S, usdc=AVAILABILITY, eth=AVAILABILITY)),
    "GET /v1/faucet/treasury": (200, obj(address=S, eth_balance=S, usdc_balance=S,
                                         needs_refill=B)),
    "POST /v1/faucet/refill": (200, obj(claimed=N, failed=N, estimated_eth=S, usdc_claimed=N,
                                        usdc_failed=N, estimated_usdc=S, tx_hashes=arr(S))),
}

# -- store ----------------------------------------------------------------------------------
BUCKET = obj(id=S, name=S, location=null(S), owner_wallet=S, quota_bytes=null(N),
             usage_bytes=N, is_public=B, public_url=Opt(S), created_at=S)
OBJECT = obj(key=S, size=N, etag=S, last_modified=S)
QUOTA = obj(bucket_id=S, quota_bytes=null(N), usage_bytes=N, usage_pct=null(N))
STORE = {
    "POST /v1/buckets": (201, obj(bucket=BUCKET)),
    "GET /v1/buckets": (200, listing(BUCKET)),
    "GET /v1/buckets/:id": (200, BUCKET),
    "DELETE /v1/buckets/:id": (200, {"type": "object"}),
    "PUT /v1/buckets/:id/objects/:key": (200, obj(key=S, size=N, etag=S, public_url=Opt(S))),
    "GET /v1/buckets/:id/objects": (200, listing(OBJECT)),
    "GET /v1/buckets/:id/objects/:key": (200, RAW),
    "DELETE /v1/buckets/:id/objects/:key": (200, obj(status=lit("deleted"))),
    "GET /v1/buckets/:id/quota": (200, QUOTA),
    "PUT /v1/buckets/:id/quota": (200, QUOTA),
    "POST /v1/buckets/:id/quota/reconcile": (200, obj(bucket_id=S, previous_bytes=N,
                                                      actual_bytes=N, delta_bytes=N)),
    "POST /v1/buckets/:id/presign": (200, obj(url=S, method=enum("GET", "PUT"), key=S,
                                              expires_at=S)),
}

# -- search ---------------------------------------------------------------------------------
SEARCH_RESPONSE = obj(query=S, answer=Opt(S), response_time=N, results=arr(obj(
    title=S, url=S, content=S, score=N, published=Opt(S))))
SEARCH = {
    "POST /v1/search": (200, SEARCH_RESPONSE),
    "POST /v1/search/news": (200, SEARCH_RESPONSE),
    "POST /v1/extract": (200, obj(
        results=arr(obj(url=S, content=S, images=Opt(arr(S)))),
        failed=arr(obj(url=S, error=S)), response_time=N)),
}

# -- email ----------------------------------------------------------------------------------
MAILBOX = obj(id=S, address=S, username=S, domain=S,
              status=enum("active", "expired", "deleted"), created_at=S, expires_at=null(S))
ADDRESS = obj(name=null(S), email=S)
MESSAGE_FIELDS: dict[str, Schema | Opt] = dict(
    id=S, to=arr(ADDRESS), subject=S, received_at=S, size=N, has_attachment=B, preview=S)
MESSAGE_FIELDS["from"] = ADDRESS
MESSAGE = obj(**MESSAGE_FIELDS)
DETAIL = obj(**MESSAGE_FIELDS, cc=arr(ADDRESS), text_body=null(S), html_body=null(S))
WEBHOOK = obj(id=S, url=S, events=arr(S), status=S, created_at=S)
DNS = obj(type=S, name=S, content=S, priority=Opt(N))
DOMAIN = obj(id=S, domain=S, status=S, owner_wallet=S, created_at=S, verified_at=null(S),
             required_records=arr(DNS), dkim_records=Opt(arr(DNS)))
DELETED = obj(id=S, deleted=lit(True))
EMAIL = {
    "POST /v1/mailboxes": (201, MAILBOX),
    "GET /v1/mailboxes": (200, listing(MAILBOX, CURSOR)),
    "GET /v1/mailboxes/:id": (200, MAILBOX),
    "DELETE /v1/mailboxes/:id": (200, DELETED),
    "POST /v1/mailboxes/:id/renew": (200, MAILBOX),
    "GET /v1/mailboxes/:id/messages": (200, listing(MESSAGE, CURSOR)),
    "GET /v1/mailboxes/:id/messages/:msgId": (200, DETAIL),
    "POST /v1/mailboxes/:id/send": (200, obj(message_id=S, status=lit("sent"))),
    "POST /v1/mailboxes/:id/webhooks": (201, WEBHOOK),
    "GET /v1/mailboxes/:id/webhooks": (200, listing(WEBHOOK, CURSOR)),
    "DELETE /v1/mailboxes/:id/webhooks/:whId": (200, DELETED),
    "POST /v1/domains": (201, DOMAIN),
    "GET /v1/domains": (200, listing(DOMAIN, CURSOR)),
    "GET /v1/domains/:id": (200, DOMAIN),
    "POST /v1/domains/:id/verify": (200, obj(
        id=S, domain=S, status=S, verified_at=null(S),
        verification_results=Opt(arr(obj(**{"type": S, "name": S, "expected": S,
                                             "found": null(S), "pass": B}))),
        dkim_records=Opt(arr(DNS)))),
    "DELETE /v1/domains/:id": (200, obj(id=S, deleted=lit(True), warning=Opt(S))),
}

# -- spawn ----------------------------------------------------------------------------------
SERVER_STATUS = enum("initializing", "running", "off", "rebuilding", "migrating", "destroying",
                     "deleted")
IP = null(obj(ip=null(S)))
SERVER = obj(id=S, provider=S, provider_id=S, name=S, type=S, status=SERVER_STATUS, image=S,
             location=S, public_net=obj(ipv4=IP, ipv6=IP), owner_wallet=S, created_at=S)
ACTION = obj(id=S, command=S, status=S, started_at=S, finished_at=null(S))
SSH_KEY = obj(id=S, provider=S, provider_id=S, name=S, fingerprint=S, owner_wallet=S,
              created_at=S)
PAGE_META = obj(page=N, per_page=N, total=N)
ACTION_ONLY = obj(action=ACTION)
SPAWN = {
    "POST /v1/servers": (201, obj(server=SERVER, action=ACTION, deposit_charged=S,
                                  deposit_remaining=S)),
    "GET /v1/servers": (200, listing(SERVER, PAGE_META)),
    "GET /v1/servers/:id": (200, SERVER),
    "DELETE /v1/servers/:id": (200, obj(status=lit("deleted"), deposit_refunded=S)),
    "POST /v1/servers/:id/start": (200, ACTION_ONLY),
    "POST /v1/servers/:id/stop": (200, ACTION_ONLY),
    "POST /v1/servers/:id/reboot": (200, ACTION_ONLY),
    "POST /v1/servers/:id/resize": (200, obj(action=ACTION, new_type=S, deposit_delta=S)),
    "POST /v1/servers/:id/rebuild": (200, obj(action=ACTION, root_password=null(S))),
    "POST /v1/ssh-keys": (201, SSH_KEY),
    "GET /v1/ssh-keys": (200, listing(SSH_KEY, PAGE_META)),
    "DELETE /v1/ssh-keys/:id": (200, {"type": "object"}),
}

# -- infer ----------------------------------------------------------------------------------
TOOL_CALL = obj(id=S, type=lit("function"), function=obj(name=S, arguments=S))
CONTENT_PART = obj(type=enum("text", "image_url"), text=Opt(S), image_url=Opt({"type": "object"}))
MESSAGE_SCHEMA = obj(
    role=enum("system", "user", "assistant", "tool"),
    content={"anyOf": [S, arr(CONTENT_PART), {"type": "null"}]},
    name=Opt(S), tool_call_id=Opt(S), tool_calls=Opt(arr(TOOL_CALL)))
INFER = {
    "POST /v1/chat": (200, obj(
        id=S, object=lit("chat.completion"), created=N, model=S,
        choices=arr(obj(index=N, message=MESSAGE_SCHEMA, finish_reason=null(
            enum("stop", "length", "tool_calls", "content_filter")))),
        usage=obj(prompt_tokens=N, completion_tokens=N, total_tokens=N))),
    "POST /v1/embed": (200, obj(
        object=lit("list"), model=S,
        data=arr(obj(object=lit("embedding"), index=N, embedding=arr(N))),
        usage=obj(prompt_tokens=N, total_tokens=N))),
    "GET /v1/models": (200, obj(data=arr(obj(
        id=S, name=S, context_length=N, pricing=obj(prompt=S, completion=S))))),
}

# -- gate, feedback -------------------------------------------------------------------------
GATE = {
    "POST /v1/redeem": (200, obj(
        status=lit("redeemed"), wallet=S, network=S,
        funded=obj(usdc=S, eth=S, usdc_tx=S, eth_tx=S), wallet_registered=B,
        credit_seeded=B)),
}
FEEDBACK_ITEM = obj(id=S, primitive=S, type=enum("bug", "friction", "feature", "praise"),
                    body=S, wallet=null(S), request_id=null(S), created_at=S)
FEEDBACK = {
    "POST /v1/submit": (200, obj(id=S, status=lit("received"))),
    "GET /v1/feed": (200, listing(FEEDBACK_ITEM, obj(total=N, limit=N, offset=N))),
}

PRIMS = {"wallet": WALLET, "faucet": FAUCET, "store": STORE, "search": SEARCH, "email": EMAIL,
         "spawn": SPAWN, "infer": INFER, "gate": GATE, "feedback": FEEDBACK}


def documents() -> dict[str, str]:
    """File name -> JSON text of every schema file."""
    out = {}
    for prim, table in PRIMS.items():
        doc = {"prim": prim,
               "routes": {route: {"status": status, "response": schema}
                          for route, (status, schema) in table.items()}}
        out[f"{prim}.json"] = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    return out


def main(argv: list[str]) -> int:
    stale = []
    for name, text in documents().items():
        path = OUT / name
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
            continue
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name in stale:
        print(f"{OUT / name}: out of date; run python scripts/sandbox_schemas.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
