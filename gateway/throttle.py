"""Login throttling: the doors that cost CPU (argon2 in identity) are rate limited.

Two moving-window limits (the ``limits`` library, in this process's memory):

* **failed logins per username** (``PAKLOG_LOGIN_FAILURES_PER_USERNAME``,
  default ``10/minute``): only wrong passwords count, so a user who logs in
  often is never slowed; a guesser gets ten tries a minute per account,
  whatever its address. Usernames are case-folded (and hashed, so a flood of
  long names cannot grow memory beyond a key per name).
* **login attempts per client address** (``PAKLOG_LOGIN_ATTEMPTS_PER_ADDRESS``,
  default ``60/minute``): every attempt counts, so one client cannot spray
  many usernames or keep identity's CPU busy.

Over a limit the gateway answers 429 ``{"type": "RateLimited", "detail"}``
with ``Retry-After`` (seconds until the oldest counted attempt leaves the
window), without calling identity. The address is the TCP peer: behind a
reverse proxy every caller shares the proxy's address, so raise the address
limit there (or terminate at the gateway). Limits are per gateway process;
several gateway replicas each keep their own counts.

The other credential doors (registration, refresh, password reset and its
confirmation) count against the same per-address limit (:meth:`LoginThrottle.admit_address`):
each costs argon2 time or sends a message. A password change counts its wrong
current passwords per username, as a failed login.

The per-username limit lets anyone who knows a username hold its owner off
for a minute by failing on purpose; that is the price of stopping password
guessing, and why the window is short.
"""

from __future__ import annotations

import hashlib
import math
import time

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from common.errors import TooManyRequests
from gateway.settings import GatewaySettings


class LoginThrottle:
    """The two login limits of one gateway process.

    Args:
        failures_per_username: e.g. ``"10/minute"``: failed logins allowed per username.
        attempts_per_address: e.g. ``"60/minute"``: login attempts allowed per client address.

    Raises:
        ValueError: A limit is not in the ``limits`` notation (``<count>/<unit>``).
    """

    def __init__(self, *, failures_per_username: str, attempts_per_address: str) -> None:
        self._per_username: RateLimitItem = parse(failures_per_username)
        self._per_address: RateLimitItem = parse(attempts_per_address)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> LoginThrottle:
        return cls(
            failures_per_username=settings.login_failures_per_username,
            attempts_per_address=settings.login_attempts_per_address,
        )

    async def admit(self, username: str, address: str) -> None:
        """Count an attempt from ``address``; refuse it if either limit is used up.

        Raises:
            TooManyRequests: ``RateLimited`` with the seconds until a retry can succeed.
        """
        user = _username_key(username)
        if not await self._limiter.test(self._per_username, "login-failures", user):
            raise TooManyRequests(
                "too many failed logins for this username; wait before trying again",
                retry_after_seconds=await self._retry_after(self._per_username, "login-failures", user),
            )
        if not await self._limiter.hit(self._per_address, "login-attempts", address):
            raise TooManyRequests(
                "too many login attempts from this address; wait before trying again",
                retry_after_seconds=await self._retry_after(self._per_address, "login-attempts", address),
            )

    async def admit_address(self, address: str) -> None:
        """Count an attempt at another credential door from ``address`` (the login's per-address limit).

        Raises:
            TooManyRequests: ``RateLimited`` with the seconds until a retry can succeed.
        """
        if not await self._limiter.hit(self._per_address, "login-attempts", address):
            raise TooManyRequests(
                "too many attempts from this address; wait before trying again",
                retry_after_seconds=await self._retry_after(self._per_address, "login-attempts", address),
            )

    async def failed(self, username: str) -> None:
        """Count a wrong password against ``username``."""
        await self._limiter.hit(self._per_username, "login-failures", _username_key(username))

    async def _retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))


def _username_key(username: str) -> str:
    return hashlib.sha256(username.strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()


def login_throttle(request: Request) -> LoginThrottle:
    """This gateway's throttle, built from its settings on first use (nothing is built at import)."""
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        # No await between the look and the store: two first requests cannot both build one.
        throttle = request.app.state.login_throttle = LoginThrottle.from_settings(request.app.state.settings)
    return throttle
