"""email.sh: mailboxes, messages, webhooks and custom domains, in memory and deterministic.

Ids count up per kind (``mbx_000001``, ``msg_000001``, ``wh_000001``, ``dom_000001``). A message
sent to a sandbox mailbox's address lands in that mailbox, so a plan can send and then read.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pytest_primgate.sandbox.routing import BadRequest, cursor_page, guarded, json_object
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse
from pytest_primgate.wallet import iso_now

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "email"
DEFAULT_DOMAIN = "mail.prim.sh"
MAILBOXES_PER_WALLET = 100
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PRICES = {
    "POST /v1/mailboxes": "0.05",
    "GET /v1/mailboxes": "0.001",
    "GET /v1/mailboxes/{id}": "0.001",
    "DELETE /v1/mailboxes/{id}": "0.01",
    "POST /v1/mailboxes/{id}/renew": "0.01",
    "GET /v1/mailboxes/{id}/messages": "0.001",
    "GET /v1/mailboxes/{id}/messages/{msgId}": "0.001",
    "POST /v1/mailboxes/{id}/send": "0.01",
    "POST /v1/mailboxes/{id}/webhooks": "0.01",
    "GET /v1/mailboxes/{id}/webhooks": "0.001",
    "DELETE /v1/mailboxes/{id}/webhooks/{whId}": "0.001",
    "POST /v1/domains": "0.05",
    "GET /v1/domains": "0.001",
    "GET /v1/domains/{id}": "0.001",
    "POST /v1/domains/{id}/verify": "0.01",
    "DELETE /v1/domains/{id}": "0.01",
}
"""x402 prices (USDC) as email.sh's llms.txt states them."""


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Mailbox:
    """One mailbox, its messages and webhooks."""

    id: str
    username: str
    domain: str
    owner: str
    created_at: str
    expires: datetime | None
    messages: list[dict[str, Any]] = field(default_factory=list)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.username}@{self.domain}"

    @property
    def expired(self) -> bool:
        return self.expires is not None and datetime.now(UTC) >= self.expires

    def response(self) -> dict[str, Any]:
        return {"id": self.id, "address": self.address, "username": self.username,
                "domain": self.domain, "status": "expired" if self.expired else "active",
                "created_at": self.created_at,
                "expires_at": _iso(self.expires) if self.expires else None}


class EmailState:
    """All mailboxes and domains of all wallets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mailboxes: dict[str, Mailbox] = {}
        self.domains: dict[str, dict[str, Any]] = {}
        self.counters: dict[str, int] = {}

    def next_id(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{kind}_{self.counters[kind]:06d}"

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"mailboxes": len(self.mailboxes), "domains": len(self.domains),
                    "messages": sum(len(m.messages) for m in self.mailboxes.values())}

    def reset(self) -> None:
        with self.lock:
            self.mailboxes.clear()
            self.domains.clear()
            self.counters.clear()

    def mailbox(self, request: SandboxRequest) -> Mailbox:
        """The mailbox of the ``id`` path parameter, owned by the payer (404, 403)."""
        box = self.mailboxes.get(request.params["id"])
        if box is None:
            raise BadRequest("Mailbox not found", 404, "not_found")
        if box.owner != request.payer:
            raise BadRequest("Caller does not own this mailbox", 403, "forbidden")
        return box

    def domain(self, request: SandboxRequest) -> dict[str, Any]:
        """The domain of the ``id`` path parameter, owned by the payer (404, 403)."""
        record = self.domains.get(request.params["id"])
        if record is None:
            raise BadRequest("Domain not found", 404, "not_found")
        if record["owner_wallet"] != request.payer:
            raise BadRequest("Caller does not own this domain", 403, "forbidden")
        return record


def _ttl(data: dict[str, Any]) -> float | None:
    ttl = data.get("ttl_ms")
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
        raise BadRequest("ttl_ms must be a positive number of milliseconds")
    return float(ttl)


def _records(domain: str) -> list[dict[str, Any]]:
    return [
        {"type": "MX", "name": domain, "content": "mx.mail.prim.sh", "priority": 10},
        {"type": "TXT", "name": domain, "content": "v=spf1 include:mail.prim.sh ~all"},
        {"type": "TXT", "name": f"_dmarc.{domain}", "content": "v=DMARC1; p=none"},
    ]


def _dkim(domain: str) -> list[dict[str, Any]]:
    return [{"type": "TXT", "name": f"prim._domainkey.{domain}",
             "content": "v=DKIM1; k=rsa; p=SANDBOX"}]


def routes(app: SandboxApp) -> list[Route]:
    """email.sh routes at their prim.sh prices."""
    state = EmailState()
    app.state[PRIM] = state

    def create_mailbox(request: SandboxRequest) -> SandboxResponse:
        """Create a mailbox (optional username, domain, ttl_ms)."""
        data = json_object(request, allow_empty=True)
        ttl = _ttl(data)
        domain = data.get("domain", DEFAULT_DOMAIN)
        username = data.get("username")
        if not isinstance(domain, str) or not _DOMAIN.match(domain):
            raise BadRequest("domain must be a domain name")
        if username is not None and (not isinstance(username, str)
                                     or not _USERNAME.match(username)):
            raise BadRequest("username must be 1-64 characters: a-z, 0-9, '.', '_', '-'")
        payer = str(request.payer)
        with state.lock:
            if domain != DEFAULT_DOMAIN:
                owned = [d for d in state.domains.values()
                         if d["domain"] == domain and d["owner_wallet"] == payer]
                if not owned:
                    raise BadRequest(f"Domain {domain} is not registered by this wallet")
            if sum(m.owner == payer for m in state.mailboxes.values()) >= MAILBOXES_PER_WALLET:
                raise BadRequest("Mailbox limit reached", 403, "forbidden")
            box_id = state.next_id("mbx")
            name = username or f"agent-{box_id[4:]}"
            if any(m.username == name and m.domain == domain for m in state.mailboxes.values()):
                raise BadRequest(f"Username {name!r} is already in use on {domain}", 409,
                                 "username_taken")
            expires = datetime.now(UTC) + timedelta(milliseconds=ttl) if ttl else None
            box = Mailbox(box_id, name, domain, payer, iso_now(), expires)
            state.mailboxes[box_id] = box
            return SandboxResponse.json(201, box.response())

    def list_mailboxes(request: SandboxRequest) -> SandboxResponse:
        """List mailboxes owned by the calling wallet."""
        with state.lock:
            mine = [m.response() for m in state.mailboxes.values() if m.owner == request.payer]
        return SandboxResponse.json(200, cursor_page(request, mine, "id"))

    def get_mailbox(request: SandboxRequest) -> SandboxResponse:
        """Get one mailbox."""
        with state.lock:
            return SandboxResponse.json(200, state.mailbox(request).response())

    def delete_mailbox(request: SandboxRequest) -> SandboxResponse:
        """Delete a mailbox and its messages."""
        with state.lock:
            box = state.mailbox(request)
            del state.mailboxes[box.id]
        return SandboxResponse.json(200, {"id": box.id, "deleted": True})

    def renew(request: SandboxRequest) -> SandboxResponse:
        """Extend a mailbox's lifetime (410 once it has expired)."""
        data = json_object(request, allow_empty=True)
        ttl = _ttl(data)
        with state.lock:
            box = state.mailbox(request)
            if box.expired:
                raise BadRequest("Mailbox has expired", 410, "expired")
            if box.expires is not None:
                base = max(box.expires, datetime.now(UTC))
                box.expires = base + timedelta(milliseconds=ttl or 86_400_000)
            elif ttl:
                box.expires = datetime.now(UTC) + timedelta(milliseconds=ttl)
            return SandboxResponse.json(200, box.response())

    def list_messages(request: SandboxRequest) -> SandboxResponse:
        """List messages in a mailbox, newest first."""
        with state.lock:
            box = state.mailbox(request)
            summaries = [{k: v for k, v in m.items()
                          if k not in ("cc", "text_body", "html_body")}
                         for m in reversed(box.messages)]
        positions = [{**s, "_pos": f"{i:06d}"} for i, s in enumerate(summaries)]
        page = cursor_page(request, positions, "_pos")
        for entry in page["data"]:
            entry.pop("_pos")
        return SandboxResponse.json(200, page)

    def get_message(request: SandboxRequest) -> SandboxResponse:
        """Read one message."""
        with state.lock:
            box = state.mailbox(request)
            message = next((m for m in box.messages if m["id"] == request.params["msgId"]),
                           None)
        if message is None:
            raise BadRequest("Message not found", 404, "not_found")
        return SandboxResponse.json(200, message)

    def send(request: SandboxRequest) -> SandboxResponse:
        """Send a message from a mailbox (delivered locally to sandbox mailboxes)."""
        data = json_object(request)
        to, subject = data.get("to"), data.get("subject")
        text, html = data.get("body"), data.get("html")
        if not isinstance(to, str) or not _EMAIL.match(to):
            raise BadRequest("to must be an email address")
        if not isinstance(subject, str):
            raise BadRequest("subject is required")
        if not isinstance(text, str) and not isinstance(html, str):
            raise BadRequest("body or html is required")
        cc = data.get("cc")
        if cc is not None and (not isinstance(cc, str) or not _EMAIL.match(cc)):
            raise BadRequest("cc must be an email address")
        with state.lock:
            box = state.mailbox(request)
            message_id = state.next_id("msg")
            content = text if isinstance(text, str) else re.sub(r"<[^>]+>", "", str(html))
            message = {
                "id": message_id, "from": {"name": None, "email": box.address},
                "to": [{"name": None, "email": to}], "subject": subject,
                "received_at": iso_now(), "size": len(content.encode()),
                "has_attachment": False, "preview": content[:200],
                "cc": [{"name": None, "email": cc}] if cc else [],
                "text_body": text if isinstance(text, str) else None,
                "html_body": html if isinstance(html, str) else None,
            }
            for target in state.mailboxes.values():
                if target.address == to.lower():
                    target.messages.append(dict(message))
        return SandboxResponse.json(200, {"message_id": message_id, "status": "sent"})

    def create_webhook(request: SandboxRequest) -> SandboxResponse:
        """Register a webhook for new mail."""
        data = json_object(request)
        url, events = data.get("url"), data.get("events", ["message.received"])
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise BadRequest("url must be an http(s) URL")
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise BadRequest("events must be an array of strings")
        secret = data.get("secret")
        if secret is not None and not isinstance(secret, str):
            raise BadRequest("secret must be a string")
        with state.lock:
            box = state.mailbox(request)
            if any(w["url"] == url for w in box.webhooks.values()):
                raise BadRequest("A webhook for this URL already exists", 409, "conflict")
            hook: dict[str, Any] = {"id": state.next_id("wh"), "url": url, "events": list(events),
                    "status": "active", "created_at": iso_now()}
            box.webhooks[hook["id"]] = hook
        return SandboxResponse.json(201, dict(hook))

    def list_webhooks(request: SandboxRequest) -> SandboxResponse:
        """List a mailbox's webhooks."""
        with state.lock:
            hooks = [dict(w) for w in state.mailbox(request).webhooks.values()]
        return SandboxResponse.json(200, cursor_page(request, hooks, "id"))

    def delete_webhook(request: SandboxRequest) -> SandboxResponse:
        """Remove a webhook."""
        with state.lock:
            box = state.mailbox(request)
            if box.webhooks.pop(request.params["whId"], None) is None:
                raise BadRequest("Webhook not found", 404, "not_found")
        return SandboxResponse.json(200, {"id": request.params["whId"], "deleted": True})

    def create_domain(request: SandboxRequest) -> SandboxResponse:
        """Register a custom domain; the response lists the DNS records to add."""
        data = json_object(request)
        name = data.get("domain")
        if not isinstance(name, str) or not _DOMAIN.match(name.lower()):
            raise BadRequest("domain must be a domain name")
        name = name.lower()
        with state.lock:
            if any(d["domain"] == name for d in state.domains.values()):
                raise BadRequest(f"Domain {name} is already registered", 409, "conflict")
            record: dict[str, Any] = {
                "id": state.next_id("dom"), "domain": name, "status": "pending",
                "owner_wallet": str(request.payer), "created_at": iso_now(),
                "verified_at": None, "required_records": _records(name)}
            state.domains[record["id"]] = record
        return SandboxResponse.json(201, dict(record))

    def list_domains(request: SandboxRequest) -> SandboxResponse:
        """List the caller's domains."""
        with state.lock:
            mine = [dict(d) for d in state.domains.values()
                    if d["owner_wallet"] == request.payer]
        return SandboxResponse.json(200, cursor_page(request, mine, "id"))

    def get_domain(request: SandboxRequest) -> SandboxResponse:
        """Get one domain."""
        with state.lock:
            return SandboxResponse.json(200, dict(state.domain(request)))

    def verify_domain(request: SandboxRequest) -> SandboxResponse:
        """Check the DNS records (the sandbox finds every one)."""
        with state.lock:
            record = state.domain(request)
            record["status"] = "verified"
            record["verified_at"] = record["verified_at"] or iso_now()
            record["dkim_records"] = _dkim(record["domain"])
            results = [{"type": r["type"], "name": r["name"], "expected": r["content"],
                        "found": r["content"], "pass": True}
                       for r in record["required_records"]]
            return SandboxResponse.json(200, {
                "id": record["id"], "domain": record["domain"], "status": record["status"],
                "verified_at": record["verified_at"], "verification_results": results,
                "dkim_records": record["dkim_records"]})

    def delete_domain(request: SandboxRequest) -> SandboxResponse:
        """Remove a domain (its mailboxes stop receiving)."""
        with state.lock:
            record = state.domain(request)
            del state.domains[record["id"]]
            used = any(m.domain == record["domain"] for m in state.mailboxes.values())
        body: dict[str, Any] = {"id": record["id"], "deleted": True}
        if used:
            body["warning"] = "Mailboxes on this domain no longer receive mail"
        return SandboxResponse.json(200, body)

    handlers = {
        "POST /v1/mailboxes": create_mailbox,
        "GET /v1/mailboxes": list_mailboxes,
        "GET /v1/mailboxes/{id}": get_mailbox,
        "DELETE /v1/mailboxes/{id}": delete_mailbox,
        "POST /v1/mailboxes/{id}/renew": renew,
        "GET /v1/mailboxes/{id}/messages": list_messages,
        "GET /v1/mailboxes/{id}/messages/{msgId}": get_message,
        "POST /v1/mailboxes/{id}/send": send,
        "POST /v1/mailboxes/{id}/webhooks": create_webhook,
        "GET /v1/mailboxes/{id}/webhooks": list_webhooks,
        "DELETE /v1/mailboxes/{id}/webhooks/{whId}": delete_webhook,
        "POST /v1/domains": create_domain,
        "GET /v1/domains": list_domains,
        "GET /v1/domains/{id}": get_domain,
        "POST /v1/domains/{id}/verify": verify_domain,
        "DELETE /v1/domains/{id}": delete_domain,
    }
    out: list[Route] = []
    for spec, handler in handlers.items():
        method, pattern = spec.split(" ", 1)
        out.append(Route(method, PRIM, pattern, guarded(handler), price=PRICES[spec]))
    return out
