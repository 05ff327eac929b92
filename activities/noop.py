"""The benchmark's baseline activity: same shape as a real one, no work."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity


@dataclass(frozen=True)
class NoopInput:
    step: str


@dataclass(frozen=True)
class NoopResult:
    step: str


@activity.defn(name="bench.noop")
async def noop(params: NoopInput) -> NoopResult:
    """Return at once (nothing to make idempotent)."""
    return NoopResult(step=params.step)
