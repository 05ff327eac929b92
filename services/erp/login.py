"""The ERP's own login at PakLog: an OAuth2 client-credentials token, fetched once, cached, renewed.

The ERP is a partner system: it posts its events to PakLog's webhook with a
bearer token of its OAuth2 client (docs/erp.md, "The ERP's login"). The token
comes from ``POST <token_url>`` with ``grant_type=client_credentials``, the
client authenticating with HTTP Basic (RFC 6749 §2.3.1: id and secret
form-encoded, then Base64). It is kept until shortly before it expires
(:data:`RENEW_BEFORE_SECONDS`, at most half its lifetime) and fetched anew
then, or at once after the webhook answered 401 (:meth:`ClientToken.forget`).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from urllib.parse import quote_plus

import httpx

#: A token is renewed this long before it expires (or at half its lifetime, if that is sooner).
RENEW_BEFORE_SECONDS = 30.0
#: A token answer without ``expires_in`` is kept this long.
DEFAULT_LIFETIME_SECONDS = 300.0


class TokenUnavailable(Exception):
    """No token could be had: the token endpoint is unreachable, refused the client or answered nonsense."""


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value of an OAuth2 client (RFC 6749 §2.3.1)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


class ClientToken:
    """A client-credentials token for the ERP's client, cached until shortly before it expires.

    Args:
        client: Sends the token requests; neither opened nor closed here.
        token_url: PakLog's token endpoint (the gateway's ``/api/auth/token``).
        client_id: The ERP's client id (``erp``).
        client_secret: Its secret.
        clock: Seconds on a monotonic clock (tests pass their own).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.token_url = token_url
        self.client_id = client_id
        self._authorization = basic_authorization(client_id, client_secret)
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        #: Tokens fetched so far (for the logs and the tests).
        self.fetched = 0

    async def bearer(self) -> str:
        """The ``Authorization`` value to send: ``Bearer <token>``, fetched when none is fresh.

        Raises:
            TokenUnavailable: no token could be had.
        """
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                await self._fetch()
            assert self._token is not None
            return f"Bearer {self._token}"

    def forget(self) -> None:
        """The token was refused (a 401): the next :meth:`bearer` fetches a new one."""
        self._token = None

    async def _fetch(self) -> None:
        asked_at = self._clock()
        try:
            resp = await self.client.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": self._authorization},
            )
        except httpx.HTTPError as exc:
            raise TokenUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not resp.is_success:
            raise TokenUnavailable(f"the token endpoint answered {resp.status_code}: {resp.text[:200]}")
        try:
            body = resp.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME_SECONDS)
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenUnavailable(f"the token endpoint answered no token: {resp.text[:200]}") from exc
        if not isinstance(token, str) or not token or lifetime <= 0:
            raise TokenUnavailable(f"the token endpoint answered no usable token: {resp.text[:200]}")
        self._token = token
        self._renew_at = asked_at + lifetime - min(RENEW_BEFORE_SECONDS, lifetime / 2)
        self.fetched += 1
