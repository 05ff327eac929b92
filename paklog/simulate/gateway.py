"""The simulation's doors: the gateway as a signed-in user, and the carrier stand-in with the service token."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from common.service_auth import service_headers
from paklog.simulate.config import SimulationError

#: Generous: a warehouse route waits up to PAKLOG_UPDATE_WAIT_SECONDS (15 s) for its workflow before answering.
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: Answers worth asking again a little later (the gateway or a service busy or restarting).
RETRYABLE = frozenset({429, 500, 502, 503, 504})


class LoginAuth(httpx.Auth):
    """A user's bearer token from ``POST /api/auth/token``, fetched on first use and again after a 401.

    Tokens expire (an hour by default) and a run may last longer; the
    request that met the 401 is sent once more with the new token.
    """

    requires_response_body = True

    def __init__(self, gateway_url: str, username: str, password: str) -> None:
        self._url = f"{gateway_url.rstrip('/')}/api/auth/token"
        self._form = {"username": username, "password": password}
        self._token: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._token is None:
            yield from self._login()
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            yield from self._login()
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def _login(self) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield httpx.Request("POST", self._url, data=self._form)
        if response.status_code != 200:
            raise SimulationError(
                f"login as {self._form['username']} refused: {response.status_code} {response.text[:300]}"
            )
        self._token = str(response.json()["access_token"])


def user_client(gateway_url: str, username: str, password: str, *, connections: int) -> httpx.AsyncClient:
    """An HTTP client of the gateway, signed in as ``username`` (on its first request)."""
    return httpx.AsyncClient(
        base_url=gateway_url.rstrip("/"),
        auth=LoginAuth(gateway_url, username, password),
        timeout=TIMEOUT,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def carriers_client(carriers_url: str, service_token: str) -> httpx.AsyncClient:
    """An HTTP client of the carrier stand-in, which answers only the deployment's service token."""
    return httpx.AsyncClient(base_url=carriers_url.rstrip("/"), headers=service_headers(service_token), timeout=TIMEOUT)


def error_type(response: httpx.Response) -> str | None:
    """The ``type`` of an error answer (``{"type", "detail"}``), if it has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else None


def retry_after(response: httpx.Response, default: float) -> float:
    """Seconds to wait before asking again: the answer's ``Retry-After``, else ``default`` (at most 30)."""
    try:
        return min(30.0, max(0.0, float(response.headers["retry-after"])))
    except (KeyError, ValueError):
        return default
