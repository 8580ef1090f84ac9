"""store.sh: buckets, objects and quotas, scoped to the paying wallet."""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pytest_primgate.sandbox.routing import BadRequest, guarded, json_object, page_of, query_int
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "store"
DEFAULT_QUOTA = 100 * 1024 * 1024
WALLET_LIMIT_BYTES = 1024 * 1024 * 1024
BUCKETS_PER_WALLET = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,61}[A-Za-z0-9]$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StoredObject:
    """One object's bytes and metadata."""

    data: bytes
    content_type: str
    etag: str
    last_modified: str

    def meta(self, key: str) -> dict[str, Any]:
        return {"key": key, "size": len(self.data), "etag": self.etag,
                "last_modified": self.last_modified}


@dataclass
class Bucket:
    """A bucket and its objects."""

    id: str
    name: str
    location: str | None
    owner_wallet: str
    created_at: str
    quota_bytes: int | None = None
    is_public: bool = False
    objects: dict[str, StoredObject] = field(default_factory=dict)
    recorded_usage: int = 0

    @property
    def usage_bytes(self) -> int:
        return sum(len(o.data) for o in self.objects.values())

    def response(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "location": self.location,
                "owner_wallet": self.owner_wallet, "quota_bytes": self.quota_bytes,
                "usage_bytes": self.usage_bytes, "is_public": self.is_public,
                "created_at": self.created_at}

    def quota(self) -> dict[str, Any]:
        limit = self.quota_bytes if self.quota_bytes is not None else DEFAULT_QUOTA
        usage = self.usage_bytes
        return {"bucket_id": self.id, "quota_bytes": limit, "usage_bytes": usage,
                "usage_pct": round(usage * 100.0 / limit, 4) if limit else None}


class StoreState:
    """All buckets of all wallets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[str, Bucket] = {}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"buckets": len(self.buckets),
                    "objects": sum(len(b.objects) for b in self.buckets.values()),
                    "bytes": sum(b.usage_bytes for b in self.buckets.values())}

    def reset(self) -> None:
        with self.lock:
            self.buckets.clear()

    def owned(self, request: SandboxRequest) -> Bucket:
        """The bucket named by the ``id`` path parameter, owned by the payer."""
        bucket = self.buckets.get(request.params["id"])
        if bucket is None:
            raise BadRequest("Bucket not found", 404, "not_found")
        if bucket.owner_wallet != request.payer:
            raise BadRequest("Caller does not own this bucket", 403, "forbidden")
        return bucket


def routes(app: SandboxApp) -> list[Route]:
    """store.sh routes at their prim.sh prices."""
    state = StoreState()
    app.state[PRIM] = state

    def create_bucket(request: SandboxRequest) -> SandboxResponse:
        """Create a bucket."""
        data = json_object(request)
        name = data.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise BadRequest("name must be 3-63 characters: letters, digits and hyphens")
        location = data.get("location")
        if location is not None and not isinstance(location, str):
            raise BadRequest("location must be a string")
        is_public = data.get("is_public", False)
        if not isinstance(is_public, bool):
            raise BadRequest("is_public must be a boolean")
        payer = str(request.payer)
        with state.lock:
            mine = [b for b in state.buckets.values() if b.owner_wallet == payer]
            if any(b.name == name for b in mine):
                raise BadRequest(f"Bucket name {name!r} is already taken", 409,
                                 "bucket_name_taken")
            if len(mine) >= BUCKETS_PER_WALLET:
                raise BadRequest(f"Wallet has reached the {BUCKETS_PER_WALLET} bucket limit",
                                 403, "bucket_limit_exceeded")
            bucket = Bucket(str(uuid.uuid4()), name, location, payer, _now(),
                            is_public=is_public)
            state.buckets[bucket.id] = bucket
            return SandboxResponse.json(201, {"bucket": bucket.response()})

    def list_buckets(request: SandboxRequest) -> SandboxResponse:
        """List the caller's buckets."""
        limit = query_int(request, "limit", 20, 1, 100)
        page = query_int(request, "page", 1, 1, 1_000_000)
        with state.lock:
            mine = [b.response() for b in state.buckets.values()
                    if b.owner_wallet == request.payer]
        return SandboxResponse.json(200, page_of(mine, page, limit))

    def get_bucket(request: SandboxRequest) -> SandboxResponse:
        """Get details for a single bucket."""
        with state.lock:
            return SandboxResponse.json(200, state.owned(request).response())

    def delete_bucket(request: SandboxRequest) -> SandboxResponse:
        """Delete an empty bucket."""
        with state.lock:
            bucket = state.owned(request)
            if bucket.objects:
                raise BadRequest("Bucket must be empty before it can be deleted", 409,
                                 "bucket_not_empty")
            del state.buckets[bucket.id]
        return SandboxResponse.json(200, {})

    def put_object(request: SandboxRequest) -> SandboxResponse:
        """Upload an object (raw bytes; Content-Length required)."""
        if "content-length" not in request.headers:
            raise BadRequest("Content-Length header is required", 411, "invalid_request")
        key = request.params["key"]
        with state.lock:
            bucket = state.owned(request)
            old = bucket.objects.get(key)
            new_usage = bucket.usage_bytes - (len(old.data) if old else 0) + len(request.body)
            limit = bucket.quota_bytes if bucket.quota_bytes is not None else DEFAULT_QUOTA
            if new_usage > limit:
                raise BadRequest("Object would exceed the bucket quota", 413, "quota_exceeded")
            wallet_total = sum(b.usage_bytes for b in state.buckets.values()
                               if b.owner_wallet == request.payer)
            if wallet_total - bucket.usage_bytes + new_usage > WALLET_LIMIT_BYTES:
                raise BadRequest("Wallet storage limit (1 GB) exceeded", 413,
                                 "storage_limit_exceeded")
            etag = '"' + hashlib.md5(request.body, usedforsecurity=False).hexdigest() + '"'
            ctype = request.headers.get("content-type", "application/octet-stream")
            bucket.objects[key] = StoredObject(request.body, ctype, etag, _now())
            bucket.recorded_usage = new_usage
        return SandboxResponse.json(200, {"key": key, "size": len(request.body), "etag": etag})

    def list_objects(request: SandboxRequest) -> SandboxResponse:
        """List objects (``?prefix``, ``?limit``, ``?cursor``)."""
        limit = query_int(request, "limit", 100, 1, 1000)
        prefix = (request.query.get("prefix") or [""])[0]
        cursor = (request.query.get("cursor") or [""])[0]
        with state.lock:
            bucket = state.owned(request)
            keys = sorted(k for k in bucket.objects if k.startswith(prefix) and k > cursor)
            chunk = keys[:limit]
            data = [bucket.objects[k].meta(k) for k in chunk]
        has_more = len(keys) > limit
        return SandboxResponse.json(200, {"data": data, "pagination": {
            "total": None, "page": None, "per_page": limit,
            "cursor": chunk[-1] if has_more else None, "has_more": has_more}})

    def get_object(request: SandboxRequest) -> SandboxResponse:
        """Download an object."""
        with state.lock:
            obj = state.owned(request).objects.get(request.params["key"])
        if obj is None:
            raise BadRequest("Object not found", 404, "not_found")
        return SandboxResponse(200, obj.data, {"Content-Type": obj.content_type,
                                               "ETag": obj.etag})

    def delete_object(request: SandboxRequest) -> SandboxResponse:
        """Delete an object."""
        with state.lock:
            bucket = state.owned(request)
            if bucket.objects.pop(request.params["key"], None) is None:
                raise BadRequest("Object not found", 404, "not_found")
        return SandboxResponse.json(200, {"status": "deleted"})

    def get_quota(request: SandboxRequest) -> SandboxResponse:
        """Get a bucket's quota and usage."""
        with state.lock:
            return SandboxResponse.json(200, state.owned(request).quota())

    def put_quota(request: SandboxRequest) -> SandboxResponse:
        """Set the storage quota for a bucket (null resets to 100 MB)."""
        data = json_object(request)
        if "quota_bytes" not in data:
            raise BadRequest("quota_bytes is required (a number or null)")
        quota = data["quota_bytes"]
        if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int | float)
                                  or quota < 0):
            raise BadRequest("quota_bytes must be a non-negative number or null")
        with state.lock:
            bucket = state.owned(request)
            bucket.quota_bytes = None if quota is None else int(quota)
            return SandboxResponse.json(200, bucket.quota())

    def reconcile(request: SandboxRequest) -> SandboxResponse:
        """Recompute bucket usage from the stored objects."""
        with state.lock:
            bucket = state.owned(request)
            previous, actual = bucket.recorded_usage, bucket.usage_bytes
            bucket.recorded_usage = actual
        return SandboxResponse.json(200, {"bucket_id": bucket.id, "previous_bytes": previous,
                                          "actual_bytes": actual,
                                          "delta_bytes": actual - previous})

    def presign(request: SandboxRequest) -> SandboxResponse:
        """Create a presigned URL to GET or PUT one object without x402."""
        data = json_object(request)
        key, method = data.get("key"), data.get("method")
        expires_in = data.get("expires_in", 3600)
        if not isinstance(key, str) or not key:
            raise BadRequest("key must be a non-empty string")
        if method not in ("GET", "PUT"):
            raise BadRequest("method must be GET or PUT")
        if (isinstance(expires_in, bool) or not isinstance(expires_in, int | float)
                or not 60 <= expires_in <= 86400):
            raise BadRequest("expires_in must be a number of seconds between 60 and 86400")
        with state.lock:
            bucket = state.owned(request)
        expires = datetime.now(UTC) + timedelta(seconds=float(expires_in))
        stamp = expires.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        token = hashlib.sha256(f"{bucket.id}/{key}/{method}/{stamp}".encode()).hexdigest()
        url = (request.url.split("/v1/", 1)[0] + f"/presigned/{bucket.id}/{quote(key)}"
               f"?method={method}&expires={quote(stamp)}&sig={token[:32]}")
        return SandboxResponse.json(200, {"url": url, "method": method, "key": key,
                                          "expires_at": stamp})

    table = [
        ("POST", "/v1/buckets", create_bucket, "0.001"),
        ("GET", "/v1/buckets", list_buckets, "0.001"),
        ("GET", "/v1/buckets/{id}", get_bucket, "0.001"),
        ("DELETE", "/v1/buckets/{id}", delete_bucket, "0.001"),
        ("GET", "/v1/buckets/{id}/objects", list_objects, "0.001"),
        ("PUT", "/v1/buckets/{id}/objects/{key:path}", put_object, "0.001"),
        ("GET", "/v1/buckets/{id}/objects/{key:path}", get_object, "0.001"),
        ("DELETE", "/v1/buckets/{id}/objects/{key:path}", delete_object, "0.001"),
        ("GET", "/v1/buckets/{id}/quota", get_quota, "0.001"),
        ("PUT", "/v1/buckets/{id}/quota", put_quota, "0.001"),
        ("POST", "/v1/buckets/{id}/quota/reconcile", reconcile, "0.001"),
        ("POST", "/v1/buckets/{id}/presign", presign, "0.001"),
    ]
    """Prices as store.sh's llms.txt states them ($0.001 per API call)."""
    return [Route(m, PRIM, p, guarded(h), price=price) for m, p, h, price in table]
