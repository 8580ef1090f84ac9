"""A holder for payment header values whose ``repr`` never shows them.

pytest prints the locals of every traceback frame under ``--showlocals``; anything secret (a
signed payment header recovers to the wallet's address and can be replayed) lives in a
``Secret`` so that such a frame shows ``<secret: 2 header(s)>`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping


class Secret:
    """Payment headers (name -> value); ``repr``/``str`` are redacted, values via ``reveal``."""

    __slots__ = ("_headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def reveal(self) -> dict[str, str]:
        """The headers themselves: only for putting them on a request."""
        return dict(self._headers)

    def names(self) -> tuple[str, ...]:
        """Header names (not secret)."""
        return tuple(self._headers)

    def __repr__(self) -> str:
        return f"<secret: {len(self._headers)} header(s)>"

    __str__ = __repr__
