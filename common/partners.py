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

from pydantic import SecretStr, model_validator

from common.settings import ServiceCredential, reject_placeholder_secret

__all__ = ["ERP_CLIENT_ID", "ERP_CLIENT_NAME", "ERP_SCOPE", "ErpClientCredential", "erp_client_secret"]

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


class ErpClientCredential(ServiceCredential):
    """The ERP client's secret as a process knows it (``PAKLOG_ERP_CLIENT_SECRET``, else derived).

    Read by the processes on both sides of the ERP's login: whoever seeds
    identity's client (``paklog seed``, ``paklog dev``) and the ERP stand-in.
    A configured placeholder is refused outside development.
    """

    erp_client_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _real_client_secret(self) -> ErpClientCredential:
        configured = self.erp_client_secret.get_secret_value() if self.erp_client_secret is not None else ""
        if configured:
            reject_placeholder_secret(self.environment, "PAKLOG_ERP_CLIENT_SECRET", configured)
        return self

    def resolved_erp_client_secret(self) -> str:
        """The configured secret, else the one derived from the service token (:func:`erp_client_secret`)."""
        configured = self.erp_client_secret.get_secret_value() if self.erp_client_secret is not None else None
        return erp_client_secret(self.service_token.get_secret_value(), configured)
