"""STAND-IN FOR AN OUTSIDE SYSTEM: a simulated transport management system (TMS) with two carriers.

Not a PakLog domain service. It plays the carriers' side of the shipping
service's outside calls, so the platform and its tests run without a real
TMS: ``SWIFT`` and ``PARCELNET`` quote rates and sell, reprint and void
labels. Its state is a SQLite file in the state folder (labels survive a
restart); faults (outage, random failures, latency) are injected through
``/control``. Run it with ``python -m services.carriers --port N --state-dir DIR``.
"""
