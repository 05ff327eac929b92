"""The edge's byte scan tells JSON text PostgreSQL cannot store from look-alikes it can."""

from __future__ import annotations

import json

import pytest

from common.middleware import unstorable_json

REFUSED = [
    rb'{"a":"\u0000"}',
    rb'{"\u0000":1}',
    rb'{"a":"\\\u0000"}',  # an escaped backslash, then a real NUL escape
    rb'{"a":"\ud800"}',
    rb'{"a":"\uD800x"}',
    rb'{"a":"\ude00"}',
    rb'{"a":"\ud83d\ud83d\ude00"}',  # a pair after a lone high surrogate
    rb'{"a":"\\ud83d\ude00"}',  # the text "\ud83d", then a lone low surrogate
    b'{"a":"\x00"}',
]
KEPT = [
    rb'{"a":"x"}',
    rb'{"a":"\\u0000"}',  # the text \u0000
    rb'{"a":"\\\\u0000"}',
    rb'{"a":"\ud83d\ude00"}',
    rb'{"a":"\uD83D\uDE00"}',
    rb'{"a":"\u00e9"}',
    '{"a":"Zoë 😀"}'.encode(),
]


@pytest.mark.parametrize("body", REFUSED)
def test_unstorable_text_is_found(body: bytes) -> None:
    assert unstorable_json(body) is not None


@pytest.mark.parametrize("body", KEPT)
def test_storable_text_is_let_through(body: bytes) -> None:
    assert unstorable_json(body) is None


def test_a_body_full_of_escaped_pairs_is_let_through() -> None:
    # What scanning such a 256 kB body costs against a parse of it is printed by `make bench` (paklog.bench_edges).
    body = json.dumps({f"k{i}": "\U0001f600" * 50 for i in range(420)}).encode()
    assert unstorable_json(body) is None
    assert unstorable_json(body[:-2] + rb'\ud83d"}') is not None  # one lone high surrogate at the very end
