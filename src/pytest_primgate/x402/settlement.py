"""Did a paid request settle? From the response status and the settlement header."""

from __future__ import annotations

from typing import Any

import httpx

from pytest_primgate.x402.codec import decode_settlement
from pytest_primgate.x402.errors import X402Error

SETTLED = "settled"
UNSETTLED = "unsettled"
CONTRADICTING = "contradicting"


def settlement_state(response: httpx.Response | None) -> tuple[str, dict[str, Any]]:
    """``(state, settlement)``: ``settled`` only for a 2xx whose settlement header says
    ``success: true``; ``contradicting`` when status and header disagree (or a 2xx carries an
    unreadable header); ``unsettled`` otherwise (no answer, no header, a refusal)."""
    if response is None:
        return UNSETTLED, {}
    ok = response.is_success
    try:
        settlement = decode_settlement(response)
    except X402Error:
        return (CONTRADICTING if ok else UNSETTLED), {}
    if settlement is None:
        return UNSETTLED, {}
    success = settlement.get("success") is True
    if ok:
        return (SETTLED if success else CONTRADICTING), settlement
    return (CONTRADICTING if success else UNSETTLED), settlement
