"""The token endpoint's request: the password grant for people, client credentials for partner systems.

Identity's ``POST /token`` and the gateway's ``POST /api/auth/token`` both read
an ``application/x-www-form-urlencoded`` body (RFC 6749):

* ``grant_type=password`` (or no ``grant_type``, as before clients existed):
  ``username`` and ``password``; either missing is a 422 ``ValidationError``.
* ``grant_type=client_credentials`` (§4.4): the client authenticates with
  ``client_id`` and ``client_secret`` form fields **or** HTTP Basic
  (§2.3.1: both parts form-encoded, then ``id:secret`` in Base64), never both
  (400 ``InvalidRequest``). Neither, or a Basic header that cannot be read, is
  401 ``InvalidClient``, as a wrong secret is.
* Anything else is 400 ``UnsupportedGrantType``.

A ``scope`` field is accepted and ignored: a client always gets the scopes
it was registered with.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import Form, Request
from fastapi.exceptions import RequestValidationError

from common.errors import DomainError, Unauthorized

PASSWORD = "password"
CLIENT_CREDENTIALS = "client_credentials"
#: A client id or secret longer than this is no client's (and would only cost hashing time).
MAX_CLIENT_FIELD = 256


class InvalidRequest(DomainError):
    """400: the request breaks the token endpoint's protocol (RFC 6749 §5.2)."""

    status_code = 400
    default_type = "InvalidRequest"


def invalid_client() -> Unauthorized:
    """401 ``InvalidClient``: the same for an unknown client, a wrong secret and unreadable credentials."""
    return Unauthorized("unknown client or wrong client secret", type="InvalidClient")


@dataclass(frozen=True, slots=True)
class PasswordGrant:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class ClientCredentialsGrant:
    client_id: str
    client_secret: str


TokenGrant = PasswordGrant | ClientCredentialsGrant


def _basic_credentials(header: str) -> tuple[str, str]:
    """``(client_id, client_secret)`` of an HTTP Basic header (RFC 6749 §2.3.1).

    Raises:
        Unauthorized: ``InvalidClient`` when the header cannot be read.
    """
    scheme, _, encoded = header.strip().partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client() from None
    client_id, sep, client_secret = decoded.partition(":")
    if scheme.lower() != "basic" or not sep:
        raise invalid_client()
    return unquote_plus(client_id), unquote_plus(client_secret)


def _missing(field: str) -> RequestValidationError:
    return RequestValidationError([{"type": "missing", "loc": ("body", field), "msg": "Field required", "input": None}])


async def token_grant(
    request: Request,
    grant_type: Annotated[
        str | None, Form(description="`password` (the default) or `client_credentials`", max_length=64)
    ] = None,
    username: Annotated[str | None, Form(description="Password grant")] = None,
    password: Annotated[str | None, Form(description="Password grant", json_schema_extra={"format": "password"})] = (
        None
    ),
    client_id: Annotated[
        str | None, Form(description="Client credentials (or HTTP Basic)", max_length=MAX_CLIENT_FIELD)
    ] = None,
    client_secret: Annotated[
        str | None,
        Form(
            description="Client credentials (or HTTP Basic)",
            max_length=MAX_CLIENT_FIELD,
            json_schema_extra={"format": "password"},
        ),
    ] = None,
    scope: Annotated[str | None, Form(description="Ignored: a client gets its registered scopes", max_length=200)] = (
        None
    ),
) -> TokenGrant:
    """The grant a token request asks for (a FastAPI dependency; see the module docstring).

    Raises:
        RequestValidationError: a password grant without ``username`` or ``password``.
        InvalidRequest: client credentials both in the form and in an HTTP Basic header.
        Unauthorized: ``InvalidClient`` for client credentials that are missing or unreadable.
        DomainError: 400 ``UnsupportedGrantType``.
    """
    if grant_type in (None, PASSWORD):
        if username is None:
            raise _missing("username")
        if password is None:
            raise _missing("password")
        return PasswordGrant(username=username, password=password)
    if grant_type != CLIENT_CREDENTIALS:
        raise DomainError(f"grant_type {grant_type!r} is not supported", type="UnsupportedGrantType")
    header = request.headers.get("authorization")
    in_form = client_id is not None or client_secret is not None
    if header is not None and in_form:
        raise InvalidRequest("send the client's credentials in the form or in HTTP Basic, not both")
    if header is not None:
        client_id, client_secret = _basic_credentials(header)
    if not client_id or client_secret is None or len(client_id) > MAX_CLIENT_FIELD:
        raise invalid_client()
    if len(client_secret) > MAX_CLIENT_FIELD:
        raise invalid_client()
    return ClientCredentialsGrant(client_id=client_id, client_secret=client_secret)
