"""store, search and infer routes: paid end to end with the x402 client, and input validation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account

from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.process import SandboxHandle, serve_in_thread
from pytest_primgate.x402.client import X402Client
from pytest_primgate.x402.spend import SpendPolicy


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with serve_in_thread(SandboxConfig()) as handle:
        yield handle


def _paying_client(sandbox: SandboxHandle) -> X402Client:
    account = Account.create()
    funded = httpx.post(
        sandbox.prim_url("faucet") + "/v1/faucet/usdc", json={"address": account.address}
    )
    assert funded.status_code == 200, funded.text
    return X402Client(account, SpendPolicy(), timeout=10.0, base_url=sandbox.url)


@pytest.fixture(scope="module")
def payer(sandbox: SandboxHandle) -> Iterator[X402Client]:
    with _paying_client(sandbox) as client:
        yield client


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error: dict[str, str] = response.json()["error"]
    assert error["code"] == code
    return error["message"]


# -- store -----------------------------------------------------------------------------------


def test_store_bucket_and_object_lifecycle(payer: X402Client) -> None:
    created = payer.post("/store/v1/buckets", json={"name": "smoke-bucket"})
    assert created.status_code == 201
    bucket = created.json()["bucket"]
    assert bucket["name"] == "smoke-bucket" and bucket["owner_wallet"] == payer.address
    assert bucket["quota_bytes"] is None and bucket["usage_bytes"] == 0
    bid = bucket["id"]
    base = f"/store/v1/buckets/{bid}"

    listing = payer.get("/store/v1/buckets").json()
    assert [b["id"] for b in listing["data"]] == [bid]
    assert listing["pagination"] == {"total": 1, "page": 1, "per_page": 20, "cursor": None,
                                     "has_more": False}
    assert payer.get(base).json()["id"] == bid

    put = payer.put(f"{base}/objects/dir/hello.txt", content=b"hello from gate-runner",
                    headers={"Content-Type": "text/plain"})
    assert put.status_code == 200
    assert put.json()["key"] == "dir/hello.txt" and put.json()["size"] == 22

    got = payer.get(f"{base}/objects/dir/hello.txt")
    assert got.text == "hello from gate-runner"
    assert got.headers["content-type"].startswith("text/plain")

    objects = payer.get(f"{base}/objects").json()
    assert [o["key"] for o in objects["data"]] == ["dir/hello.txt"]
    assert set(objects["data"][0]) == {"key", "size", "etag", "last_modified"}

    quota = payer.get(f"{base}/quota").json()
    assert quota == {"bucket_id": bid, "quota_bytes": 100 * 1024 * 1024, "usage_bytes": 22,
                     "usage_pct": quota["usage_pct"]}
    assert payer.put(f"{base}/quota", json={"quota_bytes": 10}).json()["quota_bytes"] == 10
    _error(payer.put(f"{base}/objects/big", content=b"x" * 11), 413, "quota_exceeded")
    assert payer.put(f"{base}/quota", json={"quota_bytes": None}).json()["quota_bytes"] == (
        100 * 1024 * 1024
    )
    recon = payer.post(f"{base}/quota/reconcile").json()
    assert recon["bucket_id"] == bid and recon["actual_bytes"] == 22

    _error(payer.delete(base), 409, "bucket_not_empty")
    assert payer.delete(f"{base}/objects/dir/hello.txt").json() == {"status": "deleted"}
    _error(payer.get(f"{base}/objects/dir/hello.txt"), 404, "not_found")
    assert payer.delete(base).status_code == 200
    _error(payer.get(base), 404, "not_found")


def test_store_is_scoped_to_the_paying_wallet(sandbox: SandboxHandle, payer: X402Client) -> None:
    bid = payer.post("/store/v1/buckets", json={"name": "mine-only"}).json()["bucket"]["id"]
    with _paying_client(sandbox) as other:
        assert other.get("/store/v1/buckets").json()["data"] == []
        _error(other.get(f"/store/v1/buckets/{bid}"), 403, "forbidden")
        # the same name is free for another wallet
        assert other.post("/store/v1/buckets", json={"name": "mine-only"}).status_code == 201
    _error(payer.post("/store/v1/buckets", json={"name": "mine-only"}), 409, "bucket_name_taken")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x"}, "name must be 3-63 characters: letters, digits and hyphens"),
        ({"name": "bad_name!"}, "name must be 3-63 characters: letters, digits and hyphens"),
        ({}, "name must be 3-63 characters: letters, digits and hyphens"),
        ([1], "Request body must be a JSON object"),
    ],
)
def test_store_create_validation(payer: X402Client, body: Any, message: str) -> None:
    assert _error(payer.post("/store/v1/buckets", json=body), 400, "invalid_request") == message


def test_store_quota_rejects_non_numbers(payer: X402Client) -> None:
    bid = payer.post("/store/v1/buckets", json={"name": "quota-check"}).json()["bucket"]["id"]
    response = payer.put(f"/store/v1/buckets/{bid}/quota", json={"quota_bytes": "test"})
    assert _error(response, 400, "invalid_request") == (
        "quota_bytes must be a non-negative number or null"
    )


def test_store_list_limit_validation(payer: X402Client) -> None:
    response = payer.get("/store/v1/buckets", params={"limit": "500"})
    assert _error(response, 400, "invalid_request") == "limit must be between 1 and 100"


# -- search ----------------------------------------------------------------------------------


def test_search_is_deterministic(payer: X402Client) -> None:
    body = {"query": "TypeScript programming language", "max_results": 3}
    first = payer.post("/search/v1/search", json=body).json()
    second = payer.post("/search/v1/search", json=body).json()
    assert first == second
    assert first["query"] == "TypeScript programming language"
    assert len(first["results"]) == 3
    for result in first["results"]:
        assert result["url"].startswith("https://") and result["title"] and result["content"]


def test_search_news_and_extract(payer: X402Client) -> None:
    news = payer.post("/search/v1/search/news", json={"query": "ai", "max_results": 2}).json()
    assert len(news["results"]) == 2 and "published" in news["results"][0]
    extract = payer.post(
        "/search/v1/extract", json={"urls": "https://www.typescriptlang.org", "format": "markdown"}
    ).json()
    (result,) = extract["results"]
    assert result["url"] == "https://www.typescriptlang.org"
    assert result["content"].startswith("# ")
    failed = payer.post("/search/v1/extract", json={"urls": ["ftp://x", "https://a.b"]}).json()
    assert failed["failed"] == [{"url": "ftp://x", "error": "invalid URL"}]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/search/v1/search", {"query": ""}, "query must be a non-empty string"),
        ("/search/v1/search", {"query": "q", "max_results": 99},
         "max_results must be an integer between 1 and 20"),
        ("/search/v1/extract", {"urls": []}, "urls must be a URL or a list of 1-20 URLs"),
        ("/search/v1/extract", {"urls": "https://a.b", "format": "pdf"},
         "format must be 'markdown' or 'text'"),
    ],
)
def test_search_validation(payer: X402Client, path: str, body: Any, message: str) -> None:
    assert _error(payer.post(path, json=body), 400, "invalid_request") == message


# -- infer -----------------------------------------------------------------------------------


def test_infer_chat(payer: X402Client) -> None:
    request = {"model": "anthropic/claude-sonnet-4",
               "messages": [{"role": "system", "content": "be brief"},
                            {"role": "user", "content": "Say hello in exactly three words."}]}
    body = payer.post("/infer/v1/chat", json=request).json()
    assert body["object"] == "chat.completion" and body["model"] == "anthropic/claude-sonnet-4"
    assert body["id"].startswith("chatcmpl-") and isinstance(body["created"], int)
    assert body["choices"] == [{
        "index": 0,
        "message": {"role": "assistant",
                    "content": "sandbox reply to: Say hello in exactly three words."},
        "finish_reason": "stop",
    }]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert payer.post("/infer/v1/chat", json=request).json()["id"] == body["id"]


def test_infer_embed_is_deterministic(payer: X402Client) -> None:
    request = {"model": "openai/text-embedding-3-small", "input": ["Hello world", "other"]}
    response = payer.post("/infer/v1/embed", json=request)
    assert response.status_code == 200, response.text
    first = response.json()
    assert first["object"] == "list" and first["model"] == "openai/text-embedding-3-small"
    assert [d["index"] for d in first["data"]] == [0, 1]
    vectors = [d["embedding"] for d in first["data"]]
    assert vectors[0] != vectors[1] and len(vectors[0]) == 16
    assert abs(sum(v * v for v in vectors[0]) - 1.0) < 1e-3
    assert payer.post("/infer/v1/embed", json=request).json()["data"] == first["data"]


def test_infer_models(payer: X402Client) -> None:
    models = payer.get("/infer/v1/models").json()["data"]
    assert models and all(
        {"id", "name", "context_length", "pricing"} <= set(m) for m in models
    )


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/infer/v1/chat", {"messages": [{"role": "user", "content": "x"}]},
         "model must be a non-empty string"),
        ("/infer/v1/chat", {"model": "m", "messages": []}, "messages must be a non-empty array"),
        ("/infer/v1/chat", {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
         "messages[0].role must be one of system, user, assistant, tool"),
        ("/infer/v1/embed", {"model": "m", "input": ""},
         "input must be a non-empty string or array of non-empty strings"),
    ],
)
def test_infer_validation(payer: X402Client, path: str, body: Any, message: str) -> None:
    assert _error(payer.post(path, json=body), 400, "invalid_request") == message


def test_settlement_header_on_paid_success(payer: X402Client) -> None:
    response = payer.get("/infer/v1/models")
    assert response.status_code == 200
    assert "payment-response" in response.headers


def test_metrics_count_payments(sandbox: SandboxHandle, payer: X402Client) -> None:
    payer.get("/infer/v1/models")
    metrics = httpx.get(sandbox.prim_url("infer") + "/v1/metrics").json()
    assert metrics["payments"] >= 1 and metrics["requests"] >= metrics["payments"]
