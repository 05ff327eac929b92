"""Domain errors and their HTTP rendering.

Every error a service or the gateway raises on purpose derives from
:class:`DomainError`; one exception handler turns it into a JSON body
``{"type": ..., "detail": ...}`` with the status code of its class::

    DomainError                 400  (base; rarely raised directly)
    ├── Unauthorized            401  missing, bad or expired credentials
    ├── Forbidden               403  authenticated, but the role may not do this
    ├── NotFound                404  the resource does not exist (or is not yours)
    ├── Conflict                409  illegal state transition, duplicate, idempotency mismatch
    ├── PayloadTooLarge         413  request body over the configured limit
    ├── RuleViolation           422  well-formed input that breaks a business rule
    ├── TooManyRequests         429  a rate limit was hit; ``Retry-After`` says when to try again
    ├── BadGateway              502  a dependency answered, but not what its contract says
    └── Unavailable             503  a dependency is down; safe to retry

A database integrity race that escapes (``IntegrityError``, asyncpg's
``IntegrityConstraintViolationError``) is answered 409 ``Conflict``, not 500.
A value the database refuses (SQLSTATE class 22, "data exception": a NUL in
text, a number out of range, an untranslatable character; asyncpg's
``DataError`` family, raised by the server or while encoding an argument)
is deterministic, so it is answered 422 ``ValidationError``: a retry would
fail the same way, and activities do not retry a 4xx.
Anything else that escapes a route is a bug: :class:`common.middleware.RequestContextMiddleware`
answers it with :func:`internal_error_response` (500 ``InternalError``) and logs one line.
:class:`ErrorBody` is the schema of every error body, for OpenAPI documents.

``type`` is a stable machine-readable name (``OutOfStock``, ``PaymentDeclined``,
``IllegalTransition`` ...). Activities map those types to non-retryable
Temporal ``ApplicationError`` types, so they must never be renamed casually.
Raise these below ``api.py``; never ``HTTPException``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match


class DomainError(Exception):
    """Base of every deliberate error; rendered as ``{"type", "detail"}``.

    Args:
        detail: Human-readable explanation shown to the caller.
        type: Stable machine-readable name; defaults to the class's ``default_type``.
        extra: Additional JSON fields merged into the response body.
    """

    status_code: ClassVar[int] = 400
    default_type: ClassVar[str] = "BadRequest"
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, detail: str, *, type: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.type = type or self.default_type
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON body this error renders to."""
        return {"type": self.type, "detail": self.detail, **self.extra}


class Unauthorized(DomainError):
    status_code = 401
    default_type = "Unauthorized"


class Forbidden(DomainError):
    status_code = 403
    default_type = "Forbidden"


class NotFound(DomainError):
    status_code = 404
    default_type = "NotFound"


class Conflict(DomainError):
    status_code = 409
    default_type = "Conflict"


class PayloadTooLarge(DomainError):
    status_code = 413
    default_type = "PayloadTooLarge"


class RuleViolation(DomainError):
    status_code = 422
    default_type = "RuleViolation"


class TooManyRequests(DomainError):
    """429 ``RateLimited``, answered with ``Retry-After: <retry_after_seconds>``."""

    status_code = 429
    default_type = "RateLimited"

    def __init__(self, detail: str, *, retry_after_seconds: int, type: str | None = None) -> None:
        super().__init__(detail, type=type)
        self.retry_after_seconds = max(1, retry_after_seconds)


class BadGateway(DomainError):
    status_code = 502
    default_type = "BadGateway"


class Unavailable(DomainError):
    status_code = 503
    default_type = "Unavailable"


class ErrorBody(BaseModel):
    """Every error answer: a stable ``type``, a human ``detail``, sometimes more fields (``skus``)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{"type": "NotFound", "detail": "..."}]})

    type: str
    detail: str


def error_response(status_code: int, type_: str, detail: str, **extra: Any) -> JSONResponse:
    """Build the standard error response outside the exception path."""
    headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else None
    return JSONResponse({"type": type_, "detail": detail, **extra}, status_code=status_code, headers=headers)


def domain_error_response(exc: DomainError) -> JSONResponse:
    """The response a :class:`DomainError` renders to: its status, ``{type, detail}`` and headers."""
    response = error_response(exc.status_code, exc.type, exc.detail, **exc.extra)
    response.headers.update(exc.headers)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


async def _domain_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return domain_error_response(exc)


async def _integrity_error_handler(_: Request, exc: Exception) -> JSONResponse:
    # A constraint lost a race the code did not foresee: the caller's request conflicts, it is not a crash.
    return error_response(409, "Conflict", "the request conflicts with a concurrent change; retry or check the state")


def _is_data_error(exc: BaseException) -> bool:
    """Whether the database (or the driver, encoding an argument) refused a value: SQLSTATE class 22."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # SQLAlchemy wraps the driver's error
        seen.add(id(current))
        if isinstance(current, asyncpg.DataError) or str(getattr(current, "sqlstate", "") or "").startswith("22"):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


async def _database_error_handler(_: Request, exc: Exception) -> JSONResponse:
    if not _is_data_error(exc):
        raise exc  # a bug or an outage: the request middleware logs it and answers 500
    # The value is not echoed: it is what the database could not take, and may be large.
    return error_response(422, "ValidationError", "the database cannot store a value of this request")


async def _validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err.get("loc", ()))
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return error_response(422, "ValidationError", "; ".join(problems) or "invalid request")


def internal_error_response() -> JSONResponse:
    """The answer to a bug: no exception text or traceback leaves the process."""
    return JSONResponse(
        {"type": "InternalError", "detail": "unexpected error; quote the X-Request-ID when reporting it"},
        status_code=500,
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this request's path.

    Starlette's 405 names only the first route that matched the path, but
    ``GET`` and ``POST /api/orders`` are two routes; so each method is tried
    against the whole routing table (included routers too).
    """
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in request.app.router.routes
        )
    ]


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    names = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        405: "MethodNotAllowed",
        413: "PayloadTooLarge",
    }
    response = error_response(exc.status_code, names.get(exc.status_code, "HTTPError"), str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request))
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Render domain, validation, routing, integrity-race and data errors as ``{"type", "detail"}``."""
    app.add_exception_handler(DomainError, _domain_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(IntegrityError, _integrity_error_handler)
    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, _integrity_error_handler)
    app.add_exception_handler(DBAPIError, _database_error_handler)
    app.add_exception_handler(asyncpg.DataError, _database_error_handler)
