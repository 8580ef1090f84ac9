"""The sandbox server over real loopback sockets: health, free routes, dispatch, errors."""

from __future__ import annotations

import base64
import json
import re
import socket
from collections.abc import Iterator

import httpx
import pytest

from pytest_primgate.sandbox.app import SandboxApp
from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.process import SandboxHandle, serve_in_thread
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with serve_in_thread(SandboxConfig(v1_routes=("GET /infer/v1/models",))) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10.0) as c:
        yield c


@pytest.mark.parametrize("prim", ["wallet", "store", "search", "infer", "spawn", "made-up-prim"])
def test_health_for_known_and_invented_prims(client: httpx.Client, prim: str) -> None:
    response = client.get(f"/{prim}/")
    assert response.status_code == 200
    assert response.json() == {"service": f"{prim}.sh", "status": "ok"}


def test_health_without_trailing_slash(client: httpx.Client) -> None:
    assert client.get("/store").json() == {"service": "store.sh", "status": "ok"}


def test_faucet_health_says_testnet(client: httpx.Client) -> None:
    body = client.get("/faucet/").json()
    assert body["service"] == "faucet.sh" and body["status"] == "ok"
    assert body["network"] == "eip155:84532" and body["testnet"] is True


def test_pricing_lists_paid_routes(client: httpx.Client) -> None:
    body = client.get("/infer/pricing").json()
    assert body["service"] == "infer.sh"
    assert body["currency"] == "USDC" and body["network"] == "eip155:84532"
    prices = {(r["method"], r["path"]): r["price_usdc"] for r in body["routes"]}
    assert prices == {
        ("POST", "/v1/chat"): "0.01",
        ("POST", "/v1/embed"): "0.0001",
        ("GET", "/v1/models"): "0.001",
    }
    store = client.get("/store/pricing").json()["routes"]
    assert {"method": "POST", "path": "/v1/buckets", "price_usdc": "0.001",
            "description": "Create a bucket."} in store


def test_pricing_of_invented_prim_is_empty(client: httpx.Client) -> None:
    assert client.get("/nothing/pricing").json()["routes"] == []


def test_llms_txt(client: httpx.Client) -> None:
    response = client.get("/store/llms.txt")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert text.startswith("# store.prim.sh\n")
    assert "Base URL: https://store.prim.sh" in text
    assert "### POST /v1/buckets\n\nPrice: $0.001\n" in text
    assert "### GET /v1/buckets/:id/objects/:key\n" in text
    assert "### GET /pricing" in text


def test_metrics(client: httpx.Client) -> None:
    client.get("/metricsprim/")
    body = client.get("/metricsprim/v1/metrics").json()
    assert body["service"] == "metricsprim.prim.sh"
    assert body["requests"] >= 1
    assert set(body) == {"service", "uptime_s", "requests", "payments", "errors"}


def test_unknown_route_is_404_envelope(client: httpx.Client) -> None:
    response = client.get("/store/v1/nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No route for GET /store/v1/nope"}
    }


def test_wrong_method_is_405(client: httpx.Client) -> None:
    response = client.delete("/infer/v1/chat")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.json()["error"]["allowed"] == ["POST"]


def test_head_has_no_body(client: httpx.Client) -> None:
    response = client.head("/store/")
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_keep_alive_reuses_one_connection(sandbox: SandboxHandle) -> None:
    """Twenty requests on one raw socket: HTTP/1.1 keep-alive, each answer complete."""
    host, port = sandbox.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        reader = sock.makefile("rb")
        for _ in range(20):
            sock.sendall(b"GET /store/ HTTP/1.1\r\nHost: x\r\n\r\n")
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 200")
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            assert json.loads(reader.read(length))["status"] == "ok"


def test_handler_exception_is_500_not_a_dead_connection() -> None:
    app = SandboxApp(SandboxConfig())

    def boom(request: SandboxRequest) -> SandboxResponse:
        raise RuntimeError("kaput")

    app.router.add(Route("GET", "boom", "/v1/x", boom))
    with serve_in_thread(app=app) as handle, httpx.Client(base_url=handle.url) as c:
        response = c.get("/boom/v1/x")
        assert response.status_code == 500
        assert response.json()["error"] == {
            "code": "internal_error", "message": "sandbox handler failed: RuntimeError: kaput"
        }
        assert c.get("/boom/").status_code == 200


def test_invalid_json_body_is_400(client: httpx.Client) -> None:
    response = client.post("/_sandbox/faults", content=b"{not json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_request_url_is_what_the_client_used() -> None:
    app = SandboxApp(SandboxConfig())
    seen: list[SandboxRequest] = []

    def echo(request: SandboxRequest) -> SandboxResponse:
        seen.append(request)
        return SandboxResponse.json(200, {"ok": True})

    app.router.add(Route("POST", "echo", "/v1/items/{id}/{rest:path}", echo))
    with serve_in_thread(app=app) as handle, httpx.Client(base_url=handle.url) as c:
        c.post("/echo/v1/items/a%20b/x/y.txt?q=1&q=2", content=b"hi", headers={"X-A": "1"})
    request = seen[0]
    assert request.url == f"{handle.url}/echo/v1/items/a%20b/x/y.txt?q=1&q=2"
    assert request.prim == "echo" and request.path == "/v1/items/a%20b/x/y.txt"
    assert request.params == {"id": "a b", "rest": "x/y.txt"}
    assert request.query == {"q": ["1", "2"]}
    assert request.headers["x-a"] == "1" and request.body == b"hi"


def test_chunked_request_body() -> None:
    app = SandboxApp(SandboxConfig())
    bodies: list[bytes] = []

    def take(request: SandboxRequest) -> SandboxResponse:
        bodies.append(request.body)
        return SandboxResponse.json(200, {})

    app.router.add(Route("POST", "echo", "/", take))
    with serve_in_thread(app=app) as handle, httpx.Client(base_url=handle.url) as c:
        c.post("/echo/", content=iter([b"abc", b"defg"]))
    assert bodies == [b"abcdefg"]


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("::1 not available")
    with serve_in_thread(SandboxConfig(host="::1")) as handle:
        assert handle.url.startswith("http://[::1]:")
        assert httpx.get(handle.url + "/store/").json()["service"] == "store.sh"


def test_refuses_non_loopback_host() -> None:
    from pytest_primgate.sandbox.server import SandboxServer

    with pytest.raises(ValueError, match=re.escape("refusing to bind to '0.0.0.0'")):
        SandboxServer(SandboxApp(SandboxConfig(host="0.0.0.0")))


def _decode(value: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(base64.b64decode(value))
    return decoded


def test_paid_route_answers_v2_challenge(client: httpx.Client, sandbox: SandboxHandle) -> None:
    response = client.post("/infer/v1/chat", json={"model": "m", "messages": []})
    assert response.status_code == 402
    challenge = _decode(response.headers["payment-required"])
    assert challenge["x402Version"] == 2
    resource = challenge["resource"]
    assert isinstance(resource, dict) and resource["url"] == f"{sandbox.url}/infer/v1/chat"
    accepts = challenge["accepts"]
    assert isinstance(accepts, list)
    (req,) = accepts
    assert req["scheme"] == "exact" and req["network"] == "eip155:84532"
    assert req["amount"] == "10000"
    assert req["asset"] == "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    assert req["payTo"] == SandboxConfig().pay_to
    assert req["extra"] == {"name": "USDC", "version": "2"}


def test_v1_route_answers_v1_challenge_body(client: httpx.Client) -> None:
    response = client.get("/infer/v1/models")
    assert response.status_code == 402
    body = response.json()
    assert body["x402Version"] == 1
    (req,) = body["accepts"]
    assert req["network"] == "base-sepolia" and req["maxAmountRequired"] == "1000"
    assert req["payTo"] == SandboxConfig().pay_to
