"""Secrets that ride through Temporal sealed: readable by the worker's activity, not by the Web UI.

A workflow's input and every activity's arguments are stored in its history,
which operators read in the Temporal Web UI and the ``temporal`` CLI. A
password-reset code must not be readable there: whoever reads it owns the
account for 30 minutes. So the gateway seals the code before it starts
``AccountNotice`` and the ``notifications.send`` activity unseals it just
before the call to the notifications service; the history holds only
``sealed:v1:<Fernet token>``.

The key is derived from the deployment's ``PAKLOG_SERVICE_TOKEN`` (which the
gateway and the worker share already): ``HMAC-SHA256(token, "paklog-sealed-secrets")``
as a Fernet key (AES-128-CBC + HMAC-SHA256, from ``cryptography``, which PyJWT's
crypto extra installs). Rotating the service token makes codes sealed before it
unreadable; a reset code lives 30 minutes, so at worst a reset is asked for again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

#: What a sealed value starts with (versioned: a later scheme can live beside it).
SEALED_PREFIX = "sealed:v1:"


class SealBroken(ValueError):
    """A sealed value this deployment's key cannot open (another key, or altered)."""


@lru_cache(maxsize=4)
def _fernet(service_token: str) -> Fernet:
    key = hmac.new(service_token.encode(), b"paklog-sealed-secrets", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(service_token: str, secret: str) -> str:
    """``secret`` encrypted and authenticated, as ``sealed:v1:<token>``."""
    return SEALED_PREFIX + _fernet(service_token).encrypt(secret.encode()).decode("ascii")


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def unseal(service_token: str, value: str) -> str:
    """The secret inside a sealed value; anything not sealed is returned as it is.

    Raises:
        SealBroken: The value is sealed but this key cannot open it.
    """
    if not is_sealed(value):
        return value
    try:
        return _fernet(service_token).decrypt(value[len(SEALED_PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise SealBroken("a sealed value cannot be opened with this deployment's service token") from exc


def unseal_values(service_token: str, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``mapping`` with every sealed string value opened (one level deep)."""
    return {key: unseal(service_token, value) if is_sealed(value) else value for key, value in mapping.items()}
