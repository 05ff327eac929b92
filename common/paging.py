"""Opaque cursors for keyset paging over ``(created_at, id)``, newest first.

A list sorted by ``created_at DESC, id ASC`` is walked page by page with the
last row's key: the next page holds rows strictly *after* it in that order. Rows
inserted meanwhile are newer, so they sort before the cursor and are never seen
twice (unlike ``OFFSET``, where each insert shifts every later page by one).

The cursor is URL-safe base64 of a small JSON object (``{"v": 1, "t":
created_at, "id": id}``). Callers treat it as opaque; anything that does not
decode to exactly that shape is a 422 ``InvalidCursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime

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
