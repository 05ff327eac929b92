"""The OData-style query vocabulary: timestamps, ``$filter``, ``$skiptoken``, ETags and next links.

Pure functions, no I/O. Timestamps are ISO 8601 UTC with microseconds and a
``Z`` (``2025-03-01T09:30:00.123456Z``), as SAP's OData V4 APIs write them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

from common.errors import DomainError

#: ``LastChangedAt gt|ge <ts>``; the value plain, or quoted (``'…'``, ``datetimeoffset'…'``) as V2 clients send it.
_FILTER = re.compile(r"^\s*LastChangedAt\s+(gt|ge)\s+(?:datetimeoffset)?('?)([^']+)\2\s*$")
#: A ``+`` offset that arrived unencoded in a query string is a blank by then: ``...:00 02:00`` → ``...:00+02:00``.
_BLANK_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")
_WEAK_ETAG = re.compile(r'^(?:W/)?"(\d{1,10})"$')


class BadRequest(DomainError):
    status_code = 400
    default_type = "BadRequest"


def format_ts(moment: datetime) -> str:
    """``moment`` as the ERP writes it: UTC, microseconds, ``Z``."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:26] + "Z"


def parse_ts(text: str) -> datetime:
    """An ISO 8601 timestamp with ``Z`` or an offset, as an aware UTC datetime.

    Raises:
        ValueError: Not such a timestamp, or without a zone.
    """
    value = _BLANK_OFFSET.sub(r"\1+\2", text.strip())
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no zone (Z or an offset)")
    return moment.astimezone(UTC)


def parse_filter(text: str) -> tuple[str, datetime]:
    """``$filter`` as ``(operator, timestamp)``: ``("gt" | "ge", <UTC datetime>)``.

    Raises:
        BadRequest: ``UnsupportedFilter``: anything but ``LastChangedAt gt|ge <ts>``.
    """
    match = _FILTER.match(text)
    if match is None:
        raise BadRequest(
            f"unsupported $filter {text[:200]!r}: only 'LastChangedAt gt <ts>' or 'LastChangedAt ge <ts>'",
            type="UnsupportedFilter",
        )
    try:
        return match[1], parse_ts(match[3])
    except ValueError:
        raise BadRequest(
            f"$filter: {match[3][:100]!r} is no ISO 8601 timestamp with Z or an offset", type="UnsupportedFilter"
        ) from None


def skiptoken(changed_at: datetime, key: str) -> str:
    """The ``$skiptoken`` of a row's position: ``<LastChangedAt>|<key>``."""
    return f"{format_ts(changed_at)}|{key}"


def parse_skiptoken(text: str) -> tuple[datetime, str]:
    """A ``$skiptoken`` as ``(LastChangedAt, key)``: the rows after that position follow.

    Raises:
        BadRequest: ``InvalidSkipToken``: not ``<ts>|<key>``.
    """
    stamp, sep, key = text.partition("|")
    try:
        if not sep or not key or len(key) > 64:
            raise ValueError("not <ts>|<key>")
        return parse_ts(stamp), key
    except ValueError:
        raise BadRequest(
            f"$skiptoken {text[:200]!r} is not '<LastChangedAt>|<key>' (an ISO 8601 timestamp with Z or an offset)",
            type="InvalidSkipToken",
        ) from None


def next_link(entity_set: str, top: int, changed_at: datetime, key: str) -> str:
    """``/odata/<Set>?$top=…&$skiptoken=…``: the page after the row at ``(changed_at, key)``."""
    return f"/odata/{entity_set}?$top={top}&$skiptoken={quote(skiptoken(changed_at, key), safe=':|')}"


def etag(version: int) -> str:
    """The weak ETag of a row's ``version``: ``W/"<n>"``."""
    return f'W/"{version}"'


def if_match_allows(header: str, version: int) -> bool:
    """Whether an ``If-Match`` value lets a change to the row at ``version`` through.

    ``*`` matches any row; otherwise one of its comma-separated ETags must be the row's
    (``W/"n"``, or ``"n"``: the stand-in's ETags are weak, compared by their number).
    """
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        match = _WEAK_ETAG.match(tag)
        if match is not None and int(match[1]) == version:
            return True
    return False
