"""Message templates: ``str.format`` strings over the caller's context.

Rendering never fails on an incomplete context: a missing key is left in
the text as ``{key}`` (and logged), because losing a customer message is
worse than sending one with a visible gap. Derived values are added before
rendering: ``total`` from ``total_cents`` and ``currency``, ``reason_text``
from ``reason``; a template may derive more of its own (``tracking_update``:
``status_text``, ``occurred_text``, ``where``). A value the caller gives wins
over a derived one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.errors import RuleViolation
from common.logging import get_logger


@dataclass(frozen=True, slots=True)
class Template:
    subject: str
    body: str
    #: Values of this template's own, derived from the context (the context's own keys win).
    derive: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None


#: Carrier statuses in the words a customer reads.
TRACKING_STATUSES: dict[str, str] = {
    "IN_TRANSIT": "in transit",
    "OUT_FOR_DELIVERY": "out for delivery",
    "DELIVERED": "delivered",
    "EXCEPTION": "delivery problem",
}
#: The carrier's reasons for a delivery problem (``EXCEPTION``).
DELIVERY_PROBLEMS: dict[str, str] = {
    "RECIPIENT_ABSENT": "nobody was there to take the parcel",
    "ADDRESS_NOT_FOUND": "the address could not be found",
    "DAMAGED": "the parcel was damaged",
    "REFUSED": "the parcel was refused",
}


def _words(code: str) -> str:
    return code.replace("_", " ").lower()


def _tracking_values(context: Mapping[str, Any]) -> dict[str, Any]:
    """``status_text`` ("out for delivery", "delivery problem: <reason>"), ``occurred_text`` (UTC), ``where``."""
    derived: dict[str, Any] = {}
    status, reason = context.get("status"), context.get("reason")
    if isinstance(status, str):
        text = TRACKING_STATUSES.get(status, _words(status))
        if status == "EXCEPTION" and isinstance(reason, str) and reason:
            text = f"{text}: {DELIVERY_PROBLEMS.get(reason, _words(reason))}"
        derived["status_text"] = text
    occurred_at = context.get("occurred_at")
    if isinstance(occurred_at, str):
        derived["occurred_text"] = occurred_at
        try:
            at = datetime.fromisoformat(occurred_at)
        except ValueError:
            pass
        else:
            if at.tzinfo is not None:
                derived["occurred_text"] = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    location = context.get("location")
    # Optional: no location leaves no gap in the sentence.
    derived["where"] = f", {location}" if isinstance(location, str) and location else ""
    return derived


TEMPLATES: dict[str, Template] = {
    "order_confirmed": Template(
        subject="Your PakLog order {order_id} is confirmed",
        body=(
            "Dear {name},\n\n"
            "thank you for your order {order_id}. We have received your payment of {total}\n"
            "and will let you know as soon as your parcel is on its way.\n\n"
            "PakLog"
        ),
    ),
    "order_cancelled": Template(
        subject="Your PakLog order {order_id} was cancelled",
        body=(
            "Dear {name},\n\n"
            "we are sorry: your order {order_id} was cancelled because {reason_text}.\n"
            "Any amount reserved on your card has been released or refunded.\n\n"
            "PakLog"
        ),
    ),
    "order_shipped": Template(
        subject="Your PakLog order {order_id} is on its way",
        body=(
            "Dear {name},\n\n"
            "your order {order_id} has left our warehouse with {carrier}.\n"
            "Its tracking code is {tracking_code}.\n\n"
            "PakLog"
        ),
    ),
    "order_short_shipped": Template(
        subject="Part of your PakLog order {order_id} could not be shipped",
        body=(
            "Dear {name},\n\n"
            "we are sorry: of the {ordered} x {sku} in your order {order_id} we could ship only {shipped}.\n"
            "You are charged only for what was shipped; anything else reserved on your card is released.\n\n"
            "PakLog"
        ),
    ),
    "tracking_update": Template(
        subject="{title}: {status_text}",
        body=(
            "Dear {name},\n\n"
            "news about {title}: {status_text}.\n"
            "Last update: {occurred_text}{where}.\n"
            "Tracking code {tracking_code} ({carrier}).\n\n"
            "PakLog"
        ),
        derive=_tracking_values,
    ),
    # Account notices (the gateway's AccountNotice workflow): no order.
    "welcome": Template(
        subject="Welcome to PakLog, {name}",
        body=(
            "Dear {name},\n\n"
            "your PakLog account {username} is ready. Sign in to place and follow your orders.\n\n"
            "PakLog"
        ),
    ),
    "password_reset": Template(
        subject="Reset your PakLog password",
        body=(
            "Dear {name},\n\n"
            "someone (we hope you) asked to reset the password of your PakLog account.\n"
            "Your reset code is:\n\n    {token}\n\n"
            "It works once, until {expires_at}. If you did not ask, ignore this message:\n"
            "your password stays as it is.\n\n"
            "PakLog"
        ),
    ),
}

CANCEL_REASONS: dict[str, str] = {
    "OUT_OF_STOCK": "an item in it is out of stock",
    "PAYMENT_DECLINED": "the payment was declined",
    "CUSTOMER_CANCELLED": "you asked us to cancel it",
    "ERP_REJECTED": "our order system could not accept it",
    "DELIVERY_FAILED": "the parcel could not be delivered",
    "FULFILMENT_FAILED": "we could not fulfil it",
}

_DEFAULTS: dict[str, str] = {"name": "customer"}
# ISO 4217 currencies without minor units; everything else has two.
_ZERO_DECIMAL_CURRENCIES = frozenset({"BIF", "CLP", "ISK", "JPY", "KRW", "PYG", "UGX", "VND", "XAF", "XOF"})

log = get_logger("paklog.notifications")


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    body: str


class _SafeContext(dict[str, Any]):
    """Answers a missing key with its own placeholder and remembers it."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.missing: set[str] = set()

    def __missing__(self, key: str) -> str:
        self.missing.add(key)
        return "{" + key + "}"


def format_money(amount_cents: int, currency: str) -> str:
    """``1234, "EUR"`` → ``"12.34 EUR"``; ``500, "JPY"`` → ``"500 JPY"``."""
    if currency.upper() in _ZERO_DECIMAL_CURRENCIES:
        return f"{amount_cents} {currency}"
    sign = "-" if amount_cents < 0 else ""
    whole, cents = divmod(abs(amount_cents), 100)
    return f"{sign}{whole}.{cents:02d} {currency}"


def _with_derived(context: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {**_DEFAULTS, **context}
    total_cents, currency = values.get("total_cents"), values.get("currency")
    if "total" not in values and isinstance(total_cents, int) and isinstance(currency, str):
        values["total"] = format_money(total_cents, currency)
    reason = values.get("reason")
    if "reason_text" not in values and isinstance(reason, str):
        values["reason_text"] = CANCEL_REASONS.get(reason, reason.replace("_", " ").lower())
    return values


def render(template_name: str, context: Mapping[str, Any]) -> Rendered:
    """Fill the named template with ``context``.

    Raises:
        RuleViolation: ``UnknownTemplate`` when no template has that name.
    """
    template = TEMPLATES.get(template_name)
    if template is None:
        raise RuleViolation(
            f"unknown template {template_name!r}; known: {', '.join(sorted(TEMPLATES))}",
            type="UnknownTemplate",
        )
    derived = _with_derived(context)
    if template.derive is not None:
        derived = {**template.derive(context), **derived}
    values = _SafeContext(derived)
    # A subject is a mail header: a line break in a context value must not start a new header.
    subject = " ".join(template.subject.format_map(values).split())
    body = template.body.format_map(values)
    if values.missing:
        log.warning("template_context_incomplete", template=template_name, missing=sorted(values.missing))
    return Rendered(subject=subject, body=body)
