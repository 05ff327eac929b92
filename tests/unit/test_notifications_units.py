from __future__ import annotations

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from common.errors import RuleViolation
from common.settings import ServiceSettings
from services.notifications.app import create_app
from services.notifications.models import Channel
from services.notifications.senders import LogSender, SmtpSender, build_senders
from services.notifications.settings import NotificationsSettings
from services.notifications.templates import TEMPLATES, format_money, render


@pytest.mark.parametrize(
    ("cents", "currency", "text"),
    [(3700, "EUR", "37.00 EUR"), (5, "USD", "0.05 USD"), (-1250, "EUR", "-12.50 EUR"), (500, "JPY", "500 JPY")],
)
def test_format_money(cents: int, currency: str, text: str) -> None:
    assert format_money(cents, currency) == text


def test_every_template_renders_with_a_full_context() -> None:
    context = {
        "order_id": "o-1",
        "name": "Alice",
        "total_cents": 1200,
        "currency": "EUR",
        "reason": "OUT_OF_STOCK",
        "tracking_code": "SW123",
        "carrier": "SWIFT",
        "sku": "MUG-RED",
        "ordered": 3,
        "shipped": 1,
        "title": "Order o-1",
        "status": "OUT_FOR_DELIVERY",
        "occurred_at": "2026-12-10T14:03:00+00:00",
        "location": "Hamburg hub",
        "username": "alice",
        "token": "reset-code-1",
        "expires_at": "2027-01-20 10:30 UTC",
    }
    for name in TEMPLATES:
        rendered = render(name, context)
        # Account notices are about no order.
        assert ("o-1" in rendered.subject) == (name not in {"welcome", "password_reset"}), name
        assert "{" not in rendered.subject + rendered.body


def test_a_reset_message_carries_its_code_and_when_it_runs_out() -> None:
    rendered = render("password_reset", {"name": "Alice", "token": "abc-123", "expires_at": "10:30 UTC"})
    assert "abc-123" in rendered.body
    assert "10:30 UTC" in rendered.body
    assert "abc-123" not in rendered.subject


def test_unknown_reason_is_still_readable() -> None:
    rendered = render("order_cancelled", {"order_id": "o-1", "reason": "ALIENS_LANDED"})
    assert "because aliens landed." in rendered.body


def test_missing_keys_stay_visible_and_are_logged() -> None:
    with capture_logs() as logs:
        rendered = render("order_cancelled", {"order_id": "o-1"})
    assert "because {reason_text}." in rendered.body
    assert logs[0]["event"] == "template_context_incomplete"
    assert logs[0]["missing"] == ["reason_text"]


def test_context_cannot_break_the_subject_header() -> None:
    rendered = render("order_confirmed", {"order_id": "o-1\r\nBcc: victim@example.com"})
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


def test_unknown_template_is_a_rule_violation() -> None:
    with pytest.raises(RuleViolation) as info:
        render("nope", {})
    assert info.value.type == "UnknownTemplate"


def test_email_is_logged_unless_smtp_is_configured() -> None:
    senders = build_senders(NotificationsSettings(environment="test"))
    assert isinstance(senders[Channel.EMAIL], LogSender)
    assert isinstance(senders[Channel.PUSH], LogSender)

    settings = NotificationsSettings(
        environment="test", smtp_host="mail.example.com", smtp_username="paklog", smtp_password=SecretStr("pw")
    )
    smtp = build_senders(settings)
    email = smtp[Channel.EMAIL]
    assert isinstance(email, SmtpSender)
    assert (email.host, email.port, email.starttls, email.password) == ("mail.example.com", 587, True, "pw")
    assert isinstance(smtp[Channel.PUSH], LogSender)


def test_create_app_completes_plain_service_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKLOG_SMTP_HOST", "mail.example.com")
    app = create_app(ServiceSettings(service="notifications", environment="test"))
    assert isinstance(app.state.settings, NotificationsSettings)
    assert app.state.settings.port == 8105
    assert isinstance(app.state.senders[Channel.EMAIL], SmtpSender)
