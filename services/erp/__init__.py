"""STAND-IN FOR AN OUTSIDE SYSTEM: a simulated SAP ERP (docs/erp.md, part A).

Not a PakLog domain service. It plays the ERP PakLog integrates with: the
master of materials, customers and on-hand stock, and the receiver of sales
orders. Its OData-style API (``/odata/Materials``, ``Customers``,
``MaterialStock``, ``SalesOrders``) pages in ``(LastChangedAt, key)`` order
with a readable ``$skiptoken``, answers ETags and honours ``If-Match``, and
creates one sales order per purchase order whatever the retries. Every
change is stamped from one clock (unique, strictly increasing, committed in
order) and queued in an outbox that posts signed events to
``--webhook-url``. Its state is its own PostgreSQL database (``paklog_erp``),
created, made (``metadata.create_all``) and seeded on the first start; faults
(outage, latency, failures, duplicate and reordered events) are set through
``/control``. Run it with ``python -m services.erp --port N [--database-url
URL] [--webhook-url URL]``.
"""
