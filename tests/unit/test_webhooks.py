"""Webhook signatures: the secret per carrier and the ERP's, signing and the constant-time check (common/webhooks.py)."""

from __future__ import annotations

import doctest
import hashlib
import hmac

import pytest

from common import webhooks
from common.webhooks import SIGNATURE_HEADER, carrier_secret, erp_secret, sign, verify

TOKEN = "a-service-token-of-at-least-thirty-two-characters"
BODY = b'{"event_id":"SWIFT-SW123456789012-1","status":"IN_TRANSIT"}'


def test_the_header_name() -> None:
    assert SIGNATURE_HEADER == "X-PakLog-Signature"


def test_the_derived_secret_is_the_documented_hmac_of_the_service_token() -> None:
    expected = hmac.new(TOKEN.encode(), b"carrier-webhook:SWIFT", hashlib.sha256).hexdigest()
    assert carrier_secret(TOKEN, "SWIFT", None) == expected
    assert carrier_secret(TOKEN, "SWIFT", {}) == expected
    # One carrier's secret does not open another's door, nor another deployment's.
    assert carrier_secret(TOKEN, "PARCELNET", None) != expected
    assert carrier_secret(TOKEN + "x", "SWIFT", None) != expected


def test_a_configured_secret_wins_for_its_carrier_only() -> None:
    configured = {"SWIFT": "swift-secret", "PARCELNET": ""}
    assert carrier_secret(TOKEN, "SWIFT", configured) == "swift-secret"
    # An empty entry is no secret: the derived one stands.
    assert carrier_secret(TOKEN, "PARCELNET", configured) == carrier_secret(TOKEN, "PARCELNET", None)


def test_the_erps_derived_secret_is_the_documented_hmac_and_a_configured_one_wins() -> None:
    expected = hmac.new(TOKEN.encode(), b"erp-webhook:ERP", hashlib.sha256).hexdigest()
    assert erp_secret(TOKEN, None) == erp_secret(TOKEN, "") == expected
    assert erp_secret(TOKEN + "x", None) != expected
    # No carrier named "ERP" (or anything else) signs with the ERP's secret.
    assert carrier_secret(TOKEN, "ERP", None) != expected
    assert erp_secret(TOKEN, "the-configured-erp-secret") == "the-configured-erp-secret"


def test_the_modules_examples_hold() -> None:
    failed, attempted = doctest.testmod(webhooks)
    assert (failed, attempted >= 2) == (0, True)


def test_sign_is_sha256_hex_of_the_raw_body() -> None:
    secret = carrier_secret(TOKEN, "SWIFT", None)
    expected = hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(secret, BODY) == f"sha256={expected}"
    assert verify(secret, BODY, sign(secret, BODY))
    # Upper-case hex digits and surrounding blanks are the same signature.
    assert verify(secret, BODY, f"  sha256={expected.upper()} ")
    assert verify(secret, BODY, f"SHA256={expected}")


def test_a_changed_byte_or_another_secret_fails() -> None:
    secret = carrier_secret(TOKEN, "SWIFT", None)
    header = sign(secret, BODY)
    assert not verify(secret, BODY + b" ", header)
    assert not verify(secret, BODY.replace(b"IN_TRANSIT", b"DELIVERED"), header)
    assert not verify(carrier_secret(TOKEN, "PARCELNET", None), BODY, header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256",
        "=abc",
        "sha1=" + "0" * 40,
        "md5=" + "0" * 32,
        "sha256=" + "0" * 64,
        "sha256=not-hex-at-all",
        "sha256=\udcff\x00ünïcödé",
        "sha256=" + "é" * 64,
        "Bearer something",
    ],
)
def test_garbage_is_false_and_never_raises(header: str | None) -> None:
    assert verify(carrier_secret(TOKEN, "SWIFT", None), BODY, header) is False


def test_a_non_string_header_is_false() -> None:
    secret = carrier_secret(TOKEN, "SWIFT", None)
    assert verify(secret, BODY, sign(secret, BODY).encode()) is False  # type: ignore[arg-type]
