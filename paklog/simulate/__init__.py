"""``paklog simulate``: a day on the platform, driven through its gateway only.

Customers place orders, an operator plans and releases waves, pickers
confirm pick tasks (some short), packers pack (some cartons one unit short
first), and the carrier stand-in, set through its ``/control``, moves each
parcel to ``DELIVERED`` (or an exception) by itself, posting its tracking
events to the gateway. The run watches every order until it is
``DELIVERED`` or ``CANCELLED`` and sums it up (:mod:`paklog.simulate.metrics`).

Tests call :func:`run_simulation` with a :class:`SimulationConfig` directly;
``paklog simulate`` adds the progress bar, the table and ``--report``.
"""

from paklog.simulate.config import SimulationConfig, SimulationError, SimulationResult
from paklog.simulate.report import summary_table, write_report
from paklog.simulate.run import run_simulation

__all__ = [
    "SimulationConfig",
    "SimulationError",
    "SimulationResult",
    "run_simulation",
    "summary_table",
    "write_report",
]
