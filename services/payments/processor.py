"""The simulated card processor and its test cards.

``tok_visa`` approves; ``tok_declined`` is declined; ``tok_flaky`` fails with
a transient error on its first two attempts for an order, then approves;
``tok_slow`` approves after ``slow_seconds`` (3 s by default). Other tokens
are unknown to the processor.
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
    def __init__(self, slow_seconds: float = 3.0) -> None:
        self.slow_seconds = slow_seconds

    @staticmethod
    def counts_attempts(card_token: str) -> bool:
        """Whether the answer depends on how often this order was tried (only ``tok_flaky``)."""
        return card_token == "tok_flaky"

    async def authorize(self, card_token: str, amount_cents: int, *, attempt: int) -> Approved | Declined:
        """Ask the processor; ``attempt`` counts this order's tries (for ``tok_flaky``).

        Raises:
            ProcessorDown: a transient failure; the caller should retry later.
            UnknownCard: the token is not a test card.
        """
        match card_token:
            case "tok_visa":
                return Approved(brand="visa")
            case "tok_declined":
                return Declined(brand="visa", reason="card_declined")
            case "tok_flaky":
                if attempt <= FLAKY_FAILURES:
                    raise ProcessorDown(f"processor timed out (attempt {attempt})")
                return Approved(brand="mastercard")
            case "tok_slow":
                await asyncio.sleep(self.slow_seconds)
                return Approved(brand="amex")
            case _:
                raise UnknownCard(card_token)
