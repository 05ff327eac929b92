"""What the actors of one run know together: the orders, the waves on the floor, the tallies.

One event loop runs every actor, so the state needs no locks: it changes
only between ``await``s.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from common.logging import get_logger
from common.vocabulary import OrderStatus
from paklog.simulate.metrics import TERMINAL_STATUSES, PickTally, TimelineSample, status_counts

log = get_logger("paklog.simulate")

#: Statuses past the packing table: the floor has nothing more to do for such an order.
OFF_FLOOR = frozenset(
    s.value for s in (OrderStatus.PACKED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED)
)
#: How many times each kind of surprise is logged; after that it is only counted.
LOGGED_PER_KIND = 3

ProgressCallback = Callable[[int, int], None]


@dataclass
class TrackedOrder:
    """An order the run follows: one it placed (``ours``), or another one that shares its waves."""

    order_id: str
    ours: bool
    status: str = OrderStatus.PENDING.value
    view: dict[str, Any] | None = None
    wave_id: str | None = None
    #: The floor's own marks: a pack was accepted; a pack is under way; the first pack is to be one unit
    #: short (``None``: not decided yet).
    packed: bool = False
    packing: bool = False
    short_pack: bool | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def off_floor(self) -> bool:
        return self.status in OFF_FLOOR

    @property
    def watched(self) -> bool:
        """Ours until it ends; another one only while it is on the floor (it may hold up a wave)."""
        return not self.terminal and (self.ours or not self.off_floor)


@dataclass
class FloorWave:
    """A wave the run plans, releases, picks and packs (its own, or one that took the run's orders)."""

    wave_id: str
    order_ids: set[str]
    released: bool = False
    claimed: bool = False
    retired: bool = False


@dataclass
class RunState:
    """The shared picture of one run."""

    started: float = field(default_factory=time.monotonic)
    expected_orders: int = 0
    orders: dict[str, TrackedOrder] = field(default_factory=dict)
    waves: dict[str, FloorWave] = field(default_factory=dict)
    placing_done: bool = False
    placement_failures: int = 0
    picks_confirmed: int = 0
    picks_in_full: int = 0
    counters: Counter[str] = field(default_factory=Counter)
    samples: list[TimelineSample] = field(default_factory=list)
    on_progress: ProgressCallback | None = None

    # -- orders ---------------------------------------------------------------------------
    def ours(self) -> list[TrackedOrder]:
        return [o for o in self.orders.values() if o.ours]

    def add_ours(self, order_id: str) -> None:
        order = self.orders.setdefault(order_id, TrackedOrder(order_id, ours=True))
        order.ours = True
        self.progress()

    def seen(self, order_id: str, view: Mapping[str, Any]) -> None:
        """The watcher read the order: its status and view now."""
        order = self.orders[order_id]
        was_terminal = order.terminal
        order.status, order.view = str(view["status"]), dict(view)
        if order.ours and order.terminal and not was_terminal:
            self.progress()

    def all_done(self) -> bool:
        return self.placing_done and all(o.terminal for o in self.ours())

    def progress(self) -> None:
        if self.on_progress is None:
            return
        ours = self.ours()
        total = len(ours) if self.placing_done else max(self.expected_orders, len(ours))
        self.on_progress(sum(o.terminal for o in ours), total)

    def finish_placing(self) -> None:
        self.placing_done = True
        self.progress()

    # -- waves ----------------------------------------------------------------------------
    def register_wave(self, wave: Mapping[str, Any]) -> FloorWave:
        """A wave as the gateway answered it; its orders are followed (another's too) and tied to it."""
        wave_id = str(wave["wave_id"])
        order_ids = {str(o) for o in wave.get("order_ids") or []}
        known = self.waves.get(wave_id)
        if known is None:
            known = self.waves[wave_id] = FloorWave(wave_id, order_ids)
        known.order_ids |= order_ids
        known.released = known.released or wave.get("status") in ("RELEASED", "PICKING", "DONE")
        if wave.get("status") == "CANCELLED":
            self.drop_wave(known)
        for order_id in order_ids if not known.retired else ():
            order = self.orders.setdefault(order_id, TrackedOrder(order_id, ours=False))
            order.wave_id = wave_id
        return known

    def drop_wave(self, wave: FloorWave) -> None:
        """A cancelled wave: its orders are back in the backlog, waiting for another."""
        wave.retired = True
        for order_id in wave.order_ids:
            order = self.orders.get(order_id)
            if order is not None and order.wave_id == wave.wave_id:
                order.wave_id = None

    def floor_waves(self) -> list[FloorWave]:
        """Released waves that still hold an order on the floor (others are retired on the way)."""
        for wave in self.waves.values():
            if not wave.retired and wave.released and _left_floor(self.orders, wave.order_ids):
                wave.retired = True
        return [w for w in self.waves.values() if w.released and not w.retired]

    def unreleased_waves(self) -> list[FloorWave]:
        return [w for w in self.waves.values() if not w.released and not w.retired]

    # -- tallies --------------------------------------------------------------------------
    def pick_confirmed(self, *, in_full: bool) -> None:
        self.picks_confirmed += 1
        self.picks_in_full += in_full
        if not in_full:
            self.counters["short_picks"] += 1

    def tally(self) -> PickTally:
        return PickTally(confirmed=self.picks_confirmed, in_full=self.picks_in_full)

    def note(self, kind: str, **details: Any) -> None:
        """Count something unexpected; log its first few occurrences."""
        self.counters[kind] += 1
        if self.counters[kind] <= LOGGED_PER_KIND:
            log.warning("simulation: " + kind.replace("_", " "), **details)

    def sample(self) -> None:
        """Record how many of the run's orders are in each status now (the report's chart)."""
        counts = status_counts(o.status for o in self.ours())
        self.samples.append(TimelineSample(seconds=self.elapsed(), counts=counts))

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _left_floor(orders: Mapping[str, TrackedOrder], order_ids: Iterable[str]) -> bool:
    return all(order_id in orders and orders[order_id].off_floor for order_id in order_ids)
