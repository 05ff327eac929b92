"""Per-principal, per-route rate limits: one caller cannot flood one route.

Every call to a gateway route counts against a moving window (the ``limits``
library, in this process's memory) keyed by **who** calls and **which route**:

* who: the verified principal (``user:<username>`` for a person,
  ``client:<client id>`` for a partner system); a caller without a valid token
  (the credential doors under ``/api/auth``, the signed carrier webhooks, a
  missing, forged or expired token anywhere) is keyed by its client address
  (``addr:<ip>``);
* which route: the HTTP method and the route's template
  (``POST /api/orders/{order_id}/cancel``), never the raw path, so new ids
  cannot make new keys.

Three limits, in the ``limits`` notation (``120/minute``); ``0`` or empty
switches one off:

* ``PAKLOG_RATE_LIMIT_WRITES`` (default ``120/minute``): ``POST``, ``PUT``,
  ``PATCH`` and ``DELETE``; a customer placing 30 orders at once passes;
* ``PAKLOG_RATE_LIMIT_READS`` (default ``600/minute``): ``GET`` (opening an
  order's event stream counts as one read; the open streams themselves are
  bounded by :class:`gateway.live.StreamSlots`);
* ``PAKLOG_RATE_LIMIT_WEBHOOKS`` (default ``6000/minute``): every route under
  ``/api/webhooks/``: carriers and the ERP post machine-rate event streams.

Over a limit the answer is 429 ``{"type": "RateLimited", "detail"}`` with
``Retry-After`` (whole seconds until the oldest counted call leaves the
window), given before the route's work: the count is taken in
:func:`gateway.auth.verified_principal` right after the token's signature is
checked (before identity's session look-up), and, for routes that take no
token, in :func:`anonymous_limit`, an app-wide dependency that runs before the
route's own. ``/healthz`` and the OpenAPI pages are not limited. Limits are
per gateway process: several replicas each keep their own counts. Behind a
reverse proxy every anonymous caller shares the proxy's address.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from common.errors import TooManyRequests
from common.security import Principal

#: Routes never limited: probes must see the process as it is.
EXEMPT_TEMPLATES = frozenset({"/healthz"})
#: Partners' event streams (carriers, the ERP) live below this prefix and have their own limit.
WEBHOOK_PREFIX = "/api/webhooks/"
_READ_METHODS = frozenset({"GET", "HEAD"})
#: The values that switch a limit off.
OFF_VALUES = frozenset({"", "0"})


def parse_limit(value: str) -> RateLimitItem | None:
    """The limit a setting names, or ``None`` for one switched off (``""`` or ``"0"``).

    Raises:
        ValueError: Not ``<count>/<unit>`` (``120/minute``, ``10 per second``), or a count below 1.
    """
    if value.strip() in OFF_VALUES:
        return None
    item = parse(value)
    if item.amount < 1:
        raise ValueError(f"a rate limit needs a count of at least 1 (or 0 to switch it off): {value!r}")
    return item


def principal_key(principal: Principal) -> str:
    """Whom a verified caller's calls count against: the person, or the partner client."""
    return f"{'client' if principal.is_partner else 'user'}:{principal.username}"


def address_key(request: Request) -> str:
    """Whom an unauthenticated call counts against: the TCP peer's address."""
    return f"addr:{request.client.host if request.client else 'unknown'}"


class RouteLimits:
    """The per-route limits of one gateway process.

    Args:
        writes: e.g. ``"120/minute"``: calls to one write route per caller; ``""``/``"0"`` is off.
        reads: e.g. ``"600/minute"``: calls to one read route per caller.
        webhooks: e.g. ``"6000/minute"``: calls to one webhook route per caller.
        verifies_token: The dependency that verifies a bearer token (:func:`gateway.auth.verified_principal`):
            a route that depends on it is counted there, any other in :func:`anonymous_limit`.

    Raises:
        ValueError: A limit is not in the ``limits`` notation.
    """

    def __init__(self, *, writes: str, reads: str, webhooks: str, verifies_token: Callable[..., Any]) -> None:
        self._writes = parse_limit(writes)
        self._reads = parse_limit(reads)
        self._webhooks = parse_limit(webhooks)
        self._verifies_token = verifies_token
        self._takes_token: dict[int, bool] = {}  # id(route) -> whether it verifies a token; routes live as long
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def takes_token(self, route: Any) -> bool:
        """Whether the matched route verifies a bearer token (its dependencies reach ``verifies_token``)."""
        known = self._takes_token.get(id(route))
        if known is None:
            dependant = getattr(route, "dependant", None)
            known = self._takes_token[id(route)] = dependant is not None and _depends_on(
                dependant, self._verifies_token
            )
        return known

    def limit_for(self, method: str, template: str) -> RateLimitItem | None:
        """The limit of one route, or ``None`` when it is not limited."""
        if template in EXEMPT_TEMPLATES:
            return None
        if template.startswith(WEBHOOK_PREFIX):
            return self._webhooks
        return self._reads if method in _READ_METHODS else self._writes

    async def admit(self, request: Request, who: str) -> None:
        """Count this call of ``who`` on its route; refuse it when the route's limit is used up.

        Raises:
            TooManyRequests: ``RateLimited`` with the seconds until a call would be admitted.
        """
        method, template = request.method, route_template(request)
        item = self.limit_for(method, template)
        if item is None:
            return
        if await self._limiter.hit(item, who, method, template):
            return
        stats = await self._limiter.get_window_stats(item, who, method, template)
        raise TooManyRequests(
            f"too many calls of {method} {template}: at most {item}; wait before trying again",
            retry_after_seconds=max(1, math.ceil(stats.reset_time - time.time())),
        )


def route_template(request: Request) -> str:
    """The matched route's template (``/api/orders/{order_id}``); never the raw path."""
    route: Any = request.scope.get("route")
    template = getattr(route, "path", None)
    # Dependencies run only after a route matched, so there is always one; never fall back to the raw path.
    return template if isinstance(template, str) else "<unmatched>"


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return dependant.call is call or any(_depends_on(sub, call) for sub in dependant.dependencies)


def route_limits(request: Request) -> RouteLimits:
    """This gateway's limits (built in :func:`gateway.app.create_app`)."""
    limits: RouteLimits = request.app.state.route_limits
    return limits


async def admit_principal(request: Request, principal: Principal) -> None:
    """Count a call of a verified caller (:func:`gateway.auth.verified_principal`)."""
    await route_limits(request).admit(request, principal_key(principal))


async def admit_address(request: Request) -> None:
    """Count a call without a valid token against the caller's address."""
    await route_limits(request).admit(request, address_key(request))


async def anonymous_limit(request: Request) -> None:
    """App-wide dependency: count a call of a route that takes no token against the caller's address.

    Routes that take a token are counted where it is verified
    (:func:`gateway.auth.verified_principal`: by principal, or by address when
    the token is missing or invalid), so no call is counted twice.
    """
    limits = route_limits(request)
    if not limits.takes_token(request.scope.get("route")):
        await limits.admit(request, address_key(request))
