"""The ERP stand-in's query vocabulary: timestamps, $filter, $skiptoken, ETags (services/erp/odata.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.erp.models import ean_check_digit, is_ean13
from services.erp.odata import (
    BadRequest,
    format_ts,
    if_match_allows,
    next_link,
    parse_filter,
    parse_skiptoken,
    parse_ts,
    skiptoken,
)

MOMENT = datetime(2025, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)


def test_timestamps_are_utc_with_microseconds_and_z() -> None:
    assert format_ts(MOMENT) == "2025-03-01T09:30:00.123456Z"
    assert format_ts(MOMENT.replace(microsecond=0)) == "2025-03-01T09:30:00.000000Z"
    berlin = MOMENT.astimezone(timezone(timedelta(hours=1)))
    assert format_ts(berlin) == "2025-03-01T09:30:00.123456Z"
    assert parse_ts("2025-03-01T09:30:00.123456Z") == MOMENT
    assert parse_ts("2025-03-01T10:30:00.123456+01:00") == MOMENT
    # A '+' sent unencoded in a query string arrives as a blank.
    assert parse_ts("2025-03-01T10:30:00.123456 01:00") == MOMENT
    with pytest.raises(ValueError, match="no zone"):
        parse_ts("2025-03-01T09:30:00")


def test_the_only_filter_is_last_changed_at_gt_or_ge() -> None:
    assert parse_filter("LastChangedAt gt 2025-03-01T09:30:00.123456Z") == ("gt", MOMENT)
    assert parse_filter("  LastChangedAt  ge '2025-03-01T09:30:00.123456Z' ") == ("ge", MOMENT)
    assert parse_filter("LastChangedAt ge datetimeoffset'2025-03-01T09:30:00.123456Z'") == ("ge", MOMENT)
    for text in (
        "LastChangedAt lt 2025-03-01T09:30:00Z",
        "lastchangedat gt 2025-03-01T09:30:00Z",
        "Price gt 3",
        "LastChangedAt gt 2025-03-01T09:30:00",
        "LastChangedAt gt '2025-03-01T09:30:00Z",
        "",
    ):
        with pytest.raises(BadRequest) as caught:
            parse_filter(text)
        assert (caught.value.status_code, caught.value.type) == (400, "UnsupportedFilter")


def test_a_skiptoken_is_the_readable_position_of_a_row() -> None:
    token = skiptoken(MOMENT, "MUG-RED")
    assert token == "2025-03-01T09:30:00.123456Z|MUG-RED"
    assert parse_skiptoken(token) == (MOMENT, "MUG-RED")
    assert next_link("Materials", 500, MOMENT, "MUG-RED") == f"/odata/Materials?$top=500&$skiptoken={token}"
    for text in ("MUG-RED", "|MUG-RED", "2025-03-01T09:30:00Z|", "2025-03-01T09:30:00|MUG-RED", "x|y"):
        with pytest.raises(BadRequest) as caught:
            parse_skiptoken(text)
        assert caught.value.type == "InvalidSkipToken"


def test_if_match_compares_the_version_and_star_matches_any() -> None:
    assert if_match_allows('W/"3"', 3)
    assert if_match_allows('"3"', 3)
    assert if_match_allows('W/"1", W/"3"', 3)
    assert if_match_allows("*", 99)
    assert not if_match_allows('W/"2"', 3)
    assert not if_match_allows("3", 3)
    assert not if_match_allows("W/3", 3)
    assert not if_match_allows("", 3)


def test_ean13_check_digits() -> None:
    assert ean_check_digit("400638133393") == "1"
    assert is_ean13("4006381333931")
    assert not is_ean13("4006381333932")
    assert not is_ean13("400638133393")
