"""Signed webhooks (provisional; replaced by the carriers branch's version on merge)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-PakLog-Signature"


def carrier_secret(service_token: str, carrier: str, configured: dict[str, str] | None = None) -> str:
    if configured and configured.get(carrier):
        return configured[carrier]
    return hmac.new(service_token.encode(), f"carrier-webhook:{carrier}".encode(), hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())
