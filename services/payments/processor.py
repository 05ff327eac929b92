"""The simulated card processor and its test cards.

``tok_visa`` approves; ``tok_declined`` is declined; ``tok_flaky`` fails with
a transient error on its first two attempts for an order, then approves;
``tok_slow`` approves after ``slow_seconds`` (3 s by default); ``tok_outage``
always fails with a transient error (a processor outage for that card: the
payment step retries with backoff until it gives up). Other tokens are
unknown to the processor.

Like a real processor it takes an idempotency key of its own (PakLog sends
the payment id): a repeat with the same key answers the first answer and
never places a second hold, a transient failure is not remembered (the
retry is asked again), and a void by key releases the hold, or prevents it
when the authorization has not arrived yet.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

FLAKY_FAILURES = 2


@dataclass(frozen=True, slots=True)
class Approved:
    brand: str


@dataclass(frozen=True, slots=True)
class Declined:
    brand: str
    reason: str


class UnknownCard(Exception):
    pass


class ProcessorDown(Exception):
    pass


class CardProcessor:
    """Answers by test card; ``holds`` maps each key to the amount it holds on a card."""

    def __init__(self, slow_seconds: float = 3.0) -> None:
        self.slow_seconds = slow_seconds
        self.holds: dict[str, int] = {}
        self.calls: list[str] = []
        self._answers: dict[str, Approved | Declined] = {}
        self._voided: set[str] = set()

    @staticmethod
    def counts_attempts(card_token: str) -> bool:
        """Whether the answer depends on how often this order was tried (only ``tok_flaky``)."""
        return card_token == "tok_flaky"

    async def authorize(self, key: str, card_token: str, amount_cents: int, *, attempt: int) -> Approved | Declined:
        """Hold ``amount_cents`` once per ``key``; ``attempt`` counts this order's tries (for ``tok_flaky``).

        Raises:
            ProcessorDown: a transient failure; the caller should retry later (same key).
            UnknownCard: the token is not a test card.
        """
        self.calls.append(key)
        if key in self._answers:
            return self._answers[key]
        outcome = await self._decide(card_token, attempt)
        # A concurrent call with this key may have answered first: keep one answer, one hold.
        outcome = self._answers.setdefault(key, outcome)
        if isinstance(outcome, Approved) and key not in self._voided:
            self.holds.setdefault(key, amount_cents)
        return outcome

    async def void(self, key: str) -> None:
        """Release the hold of ``key``; voiding first means a late authorization holds nothing."""
        self._voided.add(key)
        self.holds.pop(key, None)

    async def _decide(self, card_token: str, attempt: int) -> Approved | Declined:
        match card_token:
            case "tok_visa":
                return Approved(brand="visa")
            case "tok_declined":
                return Declined(brand="visa", reason="card_declined")
            case "tok_flaky":
                if attempt <= FLAKY_FAILURES:
                    raise ProcessorDown(f"processor timed out (attempt {attempt})")
                return Approved(brand="mastercard")
            case "tok_outage":
                raise ProcessorDown("processor unavailable for this card")
            case "tok_slow":
                await asyncio.sleep(self.slow_seconds)
                return Approved(brand="amex")
            case _:
                raise UnknownCard(card_token)
