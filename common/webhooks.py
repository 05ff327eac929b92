"""Signed carrier webhooks: the secret per carrier, the signature a carrier sends and its check.

A carrier posts its delivery events to ``.../api/webhooks/carriers/<CARRIER>``
with the header ``X-PakLog-Signature: sha256=<hex>``, the HMAC-SHA256 of the
raw body bytes under that carrier's secret (docs/tracking.md). The sender (the
carrier stand-in) and the receiver (the gateway) both build the secret with
:func:`carrier_secret`, so a deployment needs no extra secret: unless one is
configured for the carrier, it is derived from the service token.

Example:
    >>> secret = carrier_secret("the-deployment-service-token", "SWIFT", None)
    >>> body = b'{"event_id": "SWIFT-SW000000000001-1"}'
    >>> verify(secret, body, sign(secret, body))
    True
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "SIGNATURE_SCHEME", "carrier_secret", "sign", "verify"]

#: The request header that carries the signature.
SIGNATURE_HEADER = "X-PakLog-Signature"
#: The only scheme: the header's value is ``sha256=<lower-case hex digest>``.
SIGNATURE_SCHEME = "sha256"
#: What the derived secret is bound to, so it never equals an HMAC the token signs for anything else.
_DERIVATION_PREFIX = "carrier-webhook:"


def carrier_secret(service_token: str, carrier: str, configured: dict[str, str] | None) -> str:
    """The secret that signs ``carrier``'s webhooks.

    Args:
        service_token: The deployment's ``PAKLOG_SERVICE_TOKEN``.
        carrier: The carrier as it appears in the webhook's path (``SWIFT``, ``PARCELNET``); matched exactly.
        configured: ``PAKLOG_CARRIER_SECRETS`` (carrier → secret), or None.

    Returns:
        The configured secret of the carrier when there is a non-empty one, else
        ``hmac_sha256(service_token, "carrier-webhook:" + carrier).hexdigest()``.
    """
    given = (configured or {}).get(carrier)
    if given:
        return given
    return hmac.new(
        service_token.encode("utf-8"), (_DERIVATION_PREFIX + carrier).encode("utf-8"), hashlib.sha256
    ).hexdigest()


def sign(secret: str, body: bytes) -> str:
    """The :data:`SIGNATURE_HEADER` value for ``body``: ``sha256=<hex>``.

    Args:
        secret: The carrier's secret (:func:`carrier_secret`).
        body: The exact bytes sent as the request body.
    """
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={digest}"


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret``; never raises.

    The digests are compared in constant time (:func:`hmac.compare_digest`).
    A missing header, another scheme or anything that is not the digest is
    ``False``. The hex digits may be upper or lower case.

    Args:
        secret: The carrier's secret (:func:`carrier_secret`).
        body: The raw request body, exactly as received (before any parsing).
        header: The :data:`SIGNATURE_HEADER` value, or None when absent.
    """
    if not isinstance(header, str):
        return False
    scheme, sep, given = header.strip().partition("=")
    if not sep or scheme.lower() != SIGNATURE_SCHEME:
        return False
    expected = sign(secret, body).partition("=")[2]
    # Bytes on both sides: compare_digest refuses str with non-ASCII characters (a TypeError).
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("utf-8", "replace"))
