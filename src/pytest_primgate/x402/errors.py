"""Errors of the x402 client. Messages are one line and never carry keys or header values."""

from __future__ import annotations


class X402Error(Exception):
    """A challenge or settlement that is malformed or unsupported, or a payment that failed."""


class PaymentRefused(X402Error):
    """A spend control refused to pay; nothing was signed."""
