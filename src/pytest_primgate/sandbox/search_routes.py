"""search.sh: deterministic web search, news search and page extraction."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from pytest_primgate.sandbox.routing import BadRequest, guarded, json_object
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "search"
MAX_RESULTS = 20
DEFAULT_RESULTS = 5
MAX_URLS = 20


def _query(data: dict[str, Any]) -> tuple[str, int]:
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("query must be a non-empty string")
    count = data.get("max_results", DEFAULT_RESULTS)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_RESULTS:
        raise BadRequest(f"max_results must be an integer between 1 and {MAX_RESULTS}")
    return query.strip(), count


def search_results(query: str, count: int, *, news: bool = False) -> list[dict[str, Any]]:
    """``count`` deterministic results for ``query``."""
    digest = hashlib.sha256(query.encode()).hexdigest()
    slug = quote(query.lower().replace(" ", "-"), safe="-")
    results: list[dict[str, Any]] = []
    for i in range(count):
        host = f"{'news' if news else 'www'}{i + 1}.example.com"
        result: dict[str, Any] = {
            "url": f"https://{host}/{slug}-{digest[i:i + 8]}",
            "title": f"{query} — result {i + 1}",
            "content": f"Sandbox {'news ' if news else ''}result {i + 1} for {query!r}.",
            "score": round(1.0 - i * 0.05, 2),
        }
        if news:
            result["published"] = f"2026-01-{(i % 28) + 1:02d}"
        results.append(result)
    return results


def routes(app: SandboxApp) -> list[Route]:
    """search.sh routes at their prim.sh prices."""

    def search(request: SandboxRequest) -> SandboxResponse:
        """Web search."""
        query, count = _query(json_object(request))
        return SandboxResponse.json(200, {"query": query,
                                          "results": search_results(query, count),
                                          "response_time": 0.0})

    def news(request: SandboxRequest) -> SandboxResponse:
        """News search."""
        query, count = _query(json_object(request))
        return SandboxResponse.json(200, {"query": query,
                                          "results": search_results(query, count, news=True),
                                          "response_time": 0.0})

    def extract(request: SandboxRequest) -> SandboxResponse:
        """Extract readable content from one or more URLs."""
        data = json_object(request)
        urls = data.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if (not isinstance(urls, list) or not urls or len(urls) > MAX_URLS
                or not all(isinstance(u, str) for u in urls)):
            raise BadRequest(f"urls must be a URL or a list of 1-{MAX_URLS} URLs")
        fmt = data.get("format", "markdown")
        if fmt not in ("markdown", "text"):
            raise BadRequest("format must be 'markdown' or 'text'")
        results: list[dict[str, Any]] = []
        failed: list[dict[str, str]] = []
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                failed.append({"url": url, "error": "invalid URL"})
                continue
            title = f"Page at {parts.hostname}"
            body = f"Sandbox extract of {url}."
            content = f"# {title}\n\n{body}\n" if fmt == "markdown" else f"{title}\n\n{body}\n"
            results.append({"url": url, "title": title, "content": content})
        return SandboxResponse.json(200, {"results": results, "failed": failed,
                                          "response_time": 0.0})

    return [
        Route("POST", PRIM, "/v1/search", guarded(search), price="0.005"),
        Route("POST", PRIM, "/v1/search/news", guarded(news), price="0.005"),
        Route("POST", PRIM, "/v1/extract", guarded(extract), price="0.005"),
    ]
