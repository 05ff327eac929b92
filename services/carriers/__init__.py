"""STAND-IN FOR AN OUTSIDE SYSTEM: a simulated transport management system (TMS) with two carriers.

Not a PakLog domain service. It plays the carriers' side of the shipping
service's outside calls, so the platform and its tests run without a real
TMS: ``SWIFT`` and ``PARCELNET`` quote rates and sell, reprint and void
labels, and each label sold travels: its journey's delivery events are posted,
signed, to the gateway's webhook (``--webhook-url``) from an outbox. Its state
is a SQLite file in the state folder (labels, journeys and the outbox survive
a restart); faults (outage, random failures, latency) and the journeys' pace
and mishaps are set through ``/control``. Run it with
``python -m services.carriers --port N --state-dir DIR [--webhook-url URL]``.
"""
