"""Host -> base URL rewriting, so one plan runs against live, staging or the sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class UrlMap:
    """Maps a URL's host (``store.prim.sh``) to a base URL (``http://127.0.0.1:8402/store``).

    A wildcard key ``*.prim.sh`` maps every subdomain; ``{prim}`` in its base URL is replaced by
    the subdomain (``store``), which is how the sandbox serves every prim under ``/<id>/``.
    Exact hosts win over wildcards.
    """

    bases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_pairs(cls, pairs: Mapping[str, str]) -> UrlMap:
        """Build from ``{host: url}``; a host given as a URL keeps only its host part."""
        bases: dict[str, str] = {}
        for host, url in pairs.items():
            key = urlsplit(host).hostname if "://" in host else host
            bases[(key or host).lower()] = url.rstrip("/")
        return cls(bases)

    def merged(self, other: Mapping[str, str]) -> UrlMap:
        """A map where ``other`` fills hosts this one does not map (explicit wins)."""
        combined = dict(UrlMap.from_pairs(other).bases)
        combined.update(self.bases)
        return UrlMap(combined)

    def rewrite(self, url: str) -> str:
        """Rewrite ``url`` when its host is mapped; otherwise return it unchanged."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        base = self.bases.get(host) or self._wildcard(host)
        if base is None:
            return url
        rest = parts.path or "/"
        if parts.query:
            rest += "?" + parts.query
        return base + rest

    def _wildcard(self, host: str) -> str | None:
        for key, base in self.bases.items():
            if key.startswith("*.") and host.endswith(key[1:]) and len(host) > len(key) - 1:
                return base.replace("{prim}", host[: -len(key) + 1])
        return None
