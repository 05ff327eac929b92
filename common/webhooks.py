"""Signed webhooks of outside systems: the secret per sender, the signature it sends and its check.

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

__all__ = ["ERP_SENDER", "SIGNATURE_HEADER", "SIGNATURE_SCHEME", "carrier_secret", "erp_secret", "sign", "verify"]

#: The request header that carries the signature.
SIGNATURE_HEADER = "X-PakLog-Signature"
#: The only scheme: the header's value is ``sha256=<lower-case hex digest>``.
SIGNATURE_SCHEME = "sha256"
#: What the derived secret is bound to, so it never equals an HMAC the token signs for anything else.
_DERIVATION_PREFIX = "carrier-webhook:"
#: The same for the ERP's events: another prefix, so no carrier's secret is ever the ERP's.
_ERP_DERIVATION_PREFIX = "erp-webhook:"
#: The ERP's name in its derivation (one ERP per deployment).
ERP_SENDER = "ERP"


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


def erp_secret(service_token: str, configured: str | None) -> str:
    """The secret that signs the ERP's events (``POST .../api/webhooks/erp``).

    Args:
        service_token: The deployment's ``PAKLOG_SERVICE_TOKEN``.
        configured: ``PAKLOG_ERP_WEBHOOK_SECRET``, or None.

    Returns:
        ``configured`` when it is non-empty, else
        ``hmac_sha256(service_token, "erp-webhook:ERP").hexdigest()``.

    Example:
        >>> secret = erp_secret("the-deployment-service-token", None)
        >>> secret == erp_secret("the-deployment-service-token", "")
        True
        >>> secret == carrier_secret("the-deployment-service-token", "ERP", None)
        False
        >>> erp_secret("the-deployment-service-token", "configured-erp-secret")
        'configured-erp-secret'
        >>> body = b'{"event_id": "0b6f7c9e-3f5e-4c1a-9d55-2f6d1b8e7a10"}'
        >>> verify(secret, body, sign(secret, body))
        True
    """
    if configured:
        return configured
    return hmac.new(
        service_token.encode("utf-8"), (_ERP_DERIVATION_PREFIX + ERP_SENDER).encode("utf-8"), hashlib.sha256
    ).hexdigest()


def sign(secret: str, body: bytes) -> str:
    """The :data:`SIGNATURE_HEADER` value for ``body``: ``sha256=<hex>``.

    Args:
        secret: The sender's secret (:func:`carrier_secret`, :func:`erp_secret`).
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
        secret: The sender's secret (:func:`carrier_secret`, :func:`erp_secret`).
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
