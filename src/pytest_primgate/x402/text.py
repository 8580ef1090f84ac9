"""Server-controlled text made safe for one-line messages: control characters escaped, bounded."""

from __future__ import annotations

MAX_CHARS = 80
"""Longest server-supplied string a message quotes; longer text ends with an ellipsis."""


def clean(value: object, limit: int = MAX_CHARS) -> str:
    """``value`` as text with every control character escaped (``\\n``, ``\\x1b``), cut at
    ``limit`` characters, so a server can neither forge output lines nor flood them."""
    text = value if isinstance(value, str) else repr(value)
    out: list[str] = []
    for ch in text[: limit + 1]:
        code = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    joined = "".join(out[:limit])
    return joined + "…" if len(text) > limit else joined


def quoted(value: object, limit: int = MAX_CHARS) -> str:
    """``clean`` in single quotes for a string, bare for anything else (``0``, ``None``)."""
    return f"'{clean(value, limit)}'" if isinstance(value, str) else clean(value, limit)
