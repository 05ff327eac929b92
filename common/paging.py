"""Opaque cursors for keyset paging over ``(created_at, id)``, newest first.

A list sorted by ``created_at DESC, id ASC`` is walked page by page with the
last row's key: the next page holds rows strictly *after* it in that order. Rows
inserted meanwhile are newer, so they sort before the cursor and are never seen
twice (unlike ``OFFSET``, where each insert shifts every later page by one).

The cursor is URL-safe base64 of a small JSON object (``{"v": 1, "t":
created_at, "id": id}``). Callers treat it as opaque; anything that does not
decode to exactly that shape is a 422 ``InvalidCursor``.

Lists sorted by one unique column (users by username, partner clients by id,
the audit trail by ``seq``) use :func:`encode_key_cursor` and
:func:`decode_key_cursor`: the same envelope around that key and the list's
name, so one list's cursor is never taken for another's.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, TypeVar

from pydantic import AwareDatetime, BeforeValidator

from common.errors import RuleViolation

_VERSION = 1
#: Longer than any cursor this module makes; query parameters are bounded to it.
MAX_CURSOR_LENGTH = 256
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position after which the next page starts."""

    created_at: datetime
    id: str


def encode_cursor(created_at: datetime, id: str) -> str:
    """The opaque cursor of a row's sort key.

    Args:
        created_at: Timezone-aware creation time of the last row on the page.
        id: That row's unique id (breaks ties between equal times).
    """
    payload = json.dumps({"v": _VERSION, "t": created_at.isoformat(), "id": id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Cursor:
    """The position a cursor from :func:`encode_cursor` names.

    Raises:
        RuleViolation: ``InvalidCursor``: not base64 JSON of the expected
            shape, an id outside ``[A-Za-z0-9_-]{1,64}``, a naive time, or longer than :data:`MAX_CURSOR_LENGTH`.
    """
    invalid = RuleViolation("cursor is not one this API gave out; start again without it", type="InvalidCursor")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or set(data) != {"v", "t", "id"} or data["v"] != _VERSION:
            raise invalid
        created_at, id_ = data["t"], data["id"]
        if not isinstance(created_at, str) or not isinstance(id_, str) or not _ID.fullmatch(id_):
            raise invalid
        at = datetime.fromisoformat(created_at)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, RecursionError):
        raise invalid from None
    if at.tzinfo is None:
        raise invalid
    return Cursor(created_at=at, id=id_)


# -- keyed cursors ------------------------------------------------------------------------------------
#: What a keyed cursor's key may be: a unique sort key (a username, a client id, a sequence number).
Key = str | int
K = TypeVar("K", str, int)
_LIST = re.compile(r"[a-z][a-z0-9:_-]{0,31}")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_MAX_KEY_LENGTH = 128


def encode_key_cursor(listing: str, key: Key) -> str:
    """The opaque cursor after the row whose unique sort key is ``key``, in the list named ``listing``.

    For lists sorted by one unique column rather than ``(created_at, id)``:
    the next page holds the rows strictly after ``key`` in the list's order.
    ``listing`` (``users``, ``clients``, ``audit:desc``) binds the cursor to its
    list, so one list's cursor is never read as another's position.

    Args:
        listing: The list's name, ``[a-z][a-z0-9:_-]{0,31}``.
        key: The last row's sort key: text up to 128 characters, or an integer.
    """
    if not _LIST.fullmatch(listing):
        raise ValueError(f"not a list name: {listing!r}")
    payload = json.dumps({"v": _VERSION, "l": listing, "k": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_key_cursor(cursor: str, listing: str, kind: type[K]) -> K:
    """The key a cursor from :func:`encode_key_cursor` of the same ``listing`` names.

    Raises:
        RuleViolation: ``InvalidCursor``: not base64 JSON of the expected shape, another list's cursor,
            a key not of ``kind`` (or text over 128 characters), or longer than :data:`MAX_CURSOR_LENGTH`.
    """
    invalid = RuleViolation("cursor is not one this API gave out; start again without it", type="InvalidCursor")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise invalid from None
    if not isinstance(data, dict) or set(data) != {"v", "l", "k"} or data["v"] != _VERSION or data["l"] != listing:
        raise invalid
    key = data["k"]
    # bool is an int to Python, never a key; the key goes into SQL, so it is what the database can compare.
    if type(key) is not kind:
        raise invalid
    if isinstance(key, int) and not -(2**63) <= key < 2**63:
        raise invalid
    if isinstance(key, str) and (not 0 < len(key) <= _MAX_KEY_LENGTH or _UNSTORABLE.search(key)):
        raise invalid
    return key


# -- time filters of lists --------------------------------------------------------------------
_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_date_time(value: object) -> object:
    # pydantic also reads numbers ("0.5") as Unix times; a list filter takes only what its schema says.
    if isinstance(value, str) and not _ISO_DATE_TIME.match(value):
        raise ValueError("expected an ISO 8601 date-time with a zone, e.g. 2026-03-01T00:00:00Z")
    return value


#: A list's time filter (``?since=`` / ``?until=``): an ISO 8601 date-time with a zone (offset or ``Z``);
#: anything else, a time without a zone or a number, is a 422.
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_date_time)]
