"""Partner systems' OAuth2 clients: who they are, what they may do, and the ERP's client secret.

A partner system (today the ERP) logs in as an OAuth2 *client* with the
client-credentials grant (RFC 6749 §4.4) at identity's ``/token`` (through the
gateway's ``/api/auth/token``). Its token has the role
:data:`common.security.PARTNER_ROLE` and the client's scopes; it opens that
partner's webhook and nothing else (docs/erp.md, "The ERP's login").

Identity stores only a hash of each client's secret. The ERP's secret, like
its webhook's signing secret (:func:`common.webhooks.erp_secret`), needs no
extra configuration: unless one is configured (``PAKLOG_ERP_CLIENT_SECRET``),
both sides derive it from the deployment's service token.

Example:
    >>> secret = erp_client_secret("the-deployment-service-token", None)
    >>> secret == erp_client_secret("the-deployment-service-token", "")
    True
    >>> len(secret)
    64
    >>> erp_client_secret("the-deployment-service-token", "configured-client-secret")
    'configured-client-secret'
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["ERP_CLIENT_ID", "ERP_CLIENT_NAME", "ERP_SCOPE", "erp_client_secret"]

#: The ERP's client id at identity's token endpoint.
ERP_CLIENT_ID = "erp"
#: How the ERP's client is named in its tokens (the ``name`` claim).
ERP_CLIENT_NAME = "ERP"
#: The one scope of the ERP's client: it opens ``POST /api/webhooks/erp``.
ERP_SCOPE = "erp"
#: What a derived client secret is bound to, so it never equals an HMAC the token signs for anything else.
_DERIVATION_PREFIX = "client-secret:"


def erp_client_secret(service_token: str, configured: str | None) -> str:
    """The ERP client's secret.

    Args:
        service_token: The deployment's ``PAKLOG_SERVICE_TOKEN``.
        configured: ``PAKLOG_ERP_CLIENT_SECRET``, or None.

    Returns:
        ``configured`` when it is non-empty, else
        ``hmac_sha256(service_token, "client-secret:erp").hexdigest()``.
    """
    if configured:
        return configured
    message = (_DERIVATION_PREFIX + ERP_CLIENT_ID).encode("utf-8")
    return hmac.new(service_token.encode("utf-8"), message, hashlib.sha256).hexdigest()
