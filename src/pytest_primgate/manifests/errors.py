"""The one error type every manifest loader raises."""

from __future__ import annotations

from pytest_primgate.manifests.limits import clip


class ManifestError(Exception):
    """A manifest is invalid. Rendered as ``file:line: field: message`` with no traceback."""

    def __init__(self, path: str, line: int | None, field: str, message: str) -> None:
        self.path = path
        self.line = line
        """1-based line for humans (None when unknown)."""
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        field = f" {clip(self.field, 120)}:" if self.field else ""
        return f"{where}:{field} {clip(self.message)}"
