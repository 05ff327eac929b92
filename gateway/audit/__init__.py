"""The gateway's side of the audit trail (docs/audit.md).

:class:`~gateway.audit.middleware.AuditMiddleware` notes every ``/api`` call
once its response is sent; :class:`~gateway.audit.trail.AuditTrail` keeps the
notes in memory for at most ``audit_flush_seconds``, writes them in batches
to the outbox in the gateway's own database, and drains the outbox in order
to the audit service, deleting rows only once the service acknowledged them.
"""
