"""The carrier stand-in's ``/control`` for the length of a run: set at the start, put back at the end.

``POST /control`` without ``carrier`` sets the journeys of every carrier
(``step_seconds``, ``exception_rate``, ``recovery_rate``); with ``carrier`` it
sets that carrier's faults (``fail_rate`` makes that share of label purchases
fail). ``GET /control`` lists each carrier's settings, which is what the run
puts back; a setting it does not list goes back to the stand-in's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from common.logging import get_logger
from paklog.simulate.config import SimulationConfig, SimulationError

log = get_logger("paklog.simulate")

#: The stand-in's defaults (docs/tracking.md), put back when ``GET /control`` does not show a setting.
DEFAULTS: Mapping[str, float] = {"step_seconds": 2.0, "exception_rate": 0.0, "recovery_rate": 0.5, "fail_rate": 0.0}
JOURNEY_KEYS = ("step_seconds", "exception_rate", "recovery_rate")
CARRIERS = ("SWIFT", "PARCELNET")


class CarrierControl:
    """Applies a run's carrier settings and restores what was there before."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._before: list[dict[str, Any]] = []
        self._journeys_set = False
        self._failing: list[str] = []

    async def _post(self, body: Mapping[str, Any]) -> httpx.Response:
        return await self._http.post("/control", json=dict(body))

    async def apply(self, config: SimulationConfig) -> None:
        """Set the journeys' pace and outcomes, and each carrier's failure rate when one is asked for.

        Raises:
            SimulationError: the stand-in is unreachable, refuses the service token or a setting.
        """
        try:
            current = await self._http.get("/control")
            if current.status_code != 200:
                raise SimulationError(f"carrier stand-in GET /control: {current.status_code} {current.text[:300]}")
            self._before = _entries(current.json())
            journey = {
                "step_seconds": config.carrier_step_seconds,
                "exception_rate": config.exception_rate,
                "recovery_rate": config.recovery_rate,
            }
            answer = await self._post(journey)
            if answer.status_code != 200:
                raise SimulationError(
                    f"carrier stand-in refused {journey}: {answer.status_code} {answer.text[:300]} "
                    "(does it follow docs/tracking.md's /control?)"
                )
            self._journeys_set = True
            if config.carrier_failure_rate > 0:
                for carrier in self.carriers():
                    answer = await self._post({"carrier": carrier, "fail_rate": config.carrier_failure_rate})
                    if answer.status_code != 200:
                        raise SimulationError(
                            f"carrier stand-in refused fail_rate for {carrier}: {answer.status_code} {answer.text[:300]}"
                        )
                    self._failing.append(carrier)
        except httpx.HTTPError as exc:
            raise SimulationError(f"carrier stand-in unreachable: {exc!r}") from exc

    def carriers(self) -> list[str]:
        return [str(e["carrier"]) for e in self._before if "carrier" in e] or list(CARRIERS)

    def _previous(self, carrier: str, key: str) -> Any:
        entry = next((e for e in self._before if e.get("carrier") == carrier), {})
        return entry.get(key, DEFAULTS[key])

    async def restore(self) -> None:
        """Put back what :meth:`apply` changed; a failure is logged, never raised (the run's result stands)."""
        bodies: list[dict[str, Any]] = []
        if self._journeys_set:
            per_carrier = {c: {k: self._previous(c, k) for k in JOURNEY_KEYS} for c in self.carriers()}
            distinct = {tuple(values.items()) for values in per_carrier.values()}
            if len(distinct) == 1:
                bodies.append(dict(distinct.pop()))
            else:
                bodies += [{"carrier": c, **values} for c, values in per_carrier.items()]
        bodies += [{"carrier": c, "fail_rate": self._previous(c, "fail_rate")} for c in self._failing]
        for body in bodies:
            try:
                answer = await self._post(body)
            except httpx.HTTPError as exc:
                log.warning("carrier settings not restored", body=body, error=repr(exc))
                continue
            if answer.status_code != 200:
                log.warning("carrier settings not restored", body=body, status=answer.status_code)
        self._journeys_set, self._failing = False, []


def _entries(body: Any) -> list[dict[str, Any]]:
    """``GET /control``'s carriers: a list of per-carrier settings (or such a list under ``carriers``)."""
    if isinstance(body, Mapping):
        body = body.get("carriers", [])
    return [dict(e) for e in body if isinstance(e, Mapping)] if isinstance(body, list) else []
