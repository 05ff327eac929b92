"""JWT access tokens: issued by identity, verified by the gateway.

Tokens carry the caller's identity as claims (``sub`` username, ``uid``,
``role``, ``email``, ``name``) plus ``iat``/``exp``, a unique ``jti`` and the
fixed issuer :data:`ISSUER` and audience :data:`AUDIENCE`. A person's token
also names its login session (``sid``, the refresh-token family): the gateway
asks identity whether that session is still open on every request, so a
logout, a disabled account or a password change ends the token at once
(docs/identity.md). A partner system's token (an
OAuth2 client, role :data:`PARTNER_ROLE`) also carries ``scope``: the
space-separated scopes it was granted (``erp``); a person's token has none.

Two signing set-ups exist:

* **HS256** with a shared secret (development and tests): issuer and
  verifier hold the same ``PAKLOG_JWT_SECRET``.
* **RS256** with a private key held only by identity, which publishes the
  public half at ``/.well-known/jwks.json``; the verifier fetches that JWK
  set with :class:`jwt.PyJWKClient`, caches it, and rate-limits the network:
  a token naming an unknown ``kid`` refetches the set at most once per
  ``jwks_refetch_seconds``, and after a failed fetch the next attempt waits
  ``jwks_retry_seconds`` (meanwhile callers get ``JwksUnavailable`` at once),
  so a flood of forged ``kid`` values never becomes a flood of fetches.

A verifier accepts exactly one family (HMAC *or* RSA), so a token cannot
downgrade itself to HS256 signed with a public key (algorithm confusion).
Every verification failure is an :class:`~common.errors.Unauthorized` with
type ``TokenExpired`` or ``InvalidToken``; only an unreachable JWKS endpoint
is an :class:`~common.errors.Unavailable` (the token may be fine, and the
caller may retry).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

from common.errors import Unauthorized, Unavailable

#: The role of a partner system's own token (an OAuth2 client, never a person): it opens only its webhook.
PARTNER_ROLE = "partner"
#: The roles of people (users); a token carries one of these or :data:`PARTNER_ROLE`.
PERSON_ROLES: tuple[str, ...] = ("customer", "operator", "admin")
ROLES: tuple[str, ...] = (*PERSON_ROLES, PARTNER_ROLE)
ISSUER = "paklog-identity"
AUDIENCE = "paklog"

_IDENTITY_CLAIMS = ("sub", "uid", "role", "email", "name")
_REQUIRED_CLAIMS = [*_IDENTITY_CLAIMS, "iat", "exp", "iss", "aud"]
_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as the token's claims describe them."""

    username: str
    user_id: str
    role: str
    email: str
    name: str
    #: What a partner's token was granted (``{"erp"}``); empty for people.
    scopes: frozenset[str] = frozenset()
    #: The login session (refresh-token family) a person's token belongs to; ``None`` for partner tokens.
    session_id: str | None = None
    #: The token's own id (``jti``); two tokens of one caller and session make equal principals.
    token_id: str | None = field(default=None, compare=False)

    def has_role(self, *roles: str) -> bool:
        """True when the caller's role is one of ``roles`` (no implied hierarchy)."""
        return self.role in roles

    @property
    def is_partner(self) -> bool:
        """A partner system's client, not a person."""
        return self.role == PARTNER_ROLE


class TokenIssuer:
    """Signs access tokens for identity.

    Args:
        secret: HS256 signing secret; used when no private key is given.
        private_key_pem: PEM of an RSA private key; switches to RS256 and
            makes :meth:`jwks` publish its public half.
        key_id: ``kid`` header of RS256 tokens, matched against the JWK set.
        ttl_seconds: Lifetime of each token.

    Raises:
        ValueError: Neither a secret nor a private key, or the PEM is not an RSA private key.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        private_key_pem: str | None = None,
        key_id: str = "paklog-1",
        ttl_seconds: int = 3600,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.key_id = key_id
        self.ttl_seconds = ttl_seconds
        self._public_jwk: dict[str, Any] | None = None
        self._key: str | RSAPrivateKey
        if private_key_pem:
            key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
            if not isinstance(key, RSAPrivateKey):
                raise ValueError("private_key_pem must hold an RSA private key")
            self.algorithm = "RS256"
            self._key = key
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            assert isinstance(jwk, dict)
            self._public_jwk = {**jwk, "kid": key_id, "use": "sig", "alg": "RS256"}
        elif secret:
            self.algorithm = "HS256"
            self._key = secret
        else:
            raise ValueError("TokenIssuer needs a secret or an RSA private key")

    def issue(
        self,
        *,
        username: str,
        user_id: str,
        role: str,
        email: str,
        name: str,
        scopes: Sequence[str] = (),
        session_id: str | None = None,
        ttl_seconds: int | None = None,
    ) -> str:
        """A signed token for this user (or partner client), valid for ``ttl_seconds`` from now.

        Args:
            scopes: A partner client's granted scopes, sent as the ``scope`` claim (space-separated);
                none for people.
            session_id: The login session the token belongs to (the ``sid`` claim).
            ttl_seconds: This token's lifetime, in place of the issuer's.

        Raises:
            ValueError: ``role`` is not one of :data:`ROLES`, or a scope is empty or holds a space.
        """
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if any(not scope or " " in scope for scope in scopes):
            raise ValueError(f"scopes must be non-empty words, got {list(scopes)!r}")
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": username,
            "uid": user_id,
            "role": role,
            "email": email,
            "name": name,
            "iat": now,
            "exp": now + timedelta(seconds=ttl_seconds or self.ttl_seconds),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": secrets.token_hex(16),
        }
        if session_id is not None:
            claims["sid"] = session_id
        if scopes:
            claims["scope"] = " ".join(scopes)
        headers = {"kid": self.key_id} if self.algorithm == "RS256" else None
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    def jwks(self) -> dict[str, Any]:
        """The public JWK set: one RSA key for RS256, none for HS256 (a secret is never published)."""
        return {"keys": [dict(self._public_jwk)] if self._public_jwk else []}


class _RateLimitedJWKClient(jwt.PyJWKClient):
    """A :class:`jwt.PyJWKClient` whose failed fetches are not retried for ``retry_seconds``.

    PyJWKClient's own ``cooldown_duration`` bounds refetches for unknown
    ``kid`` values after a *successful* fetch; this adds the same bound after
    a failed one, so an outage of the JWKS endpoint costs one request per
    interval instead of one per incoming token.
    """

    def __init__(self, uri: str, *, lifespan: float, refetch_seconds: float, retry_seconds: float, timeout: float):
        super().__init__(uri, cache_jwk_set=True, lifespan=lifespan, timeout=timeout, cooldown_duration=refetch_seconds)
        self._retry_seconds = retry_seconds
        self._failed_at: float | None = None

    def fetch_data(self) -> Any:
        # Called under PyJWKClient's own lock, so the bookkeeping needs no lock of its own.
        now = time.monotonic()
        if self._failed_at is not None and now - self._failed_at < self._retry_seconds:
            raise jwt.PyJWKClientConnectionError("the JWK set could not be fetched moments ago; not retrying yet")
        try:
            data = super().fetch_data()
        except jwt.PyJWKClientConnectionError:
            self._failed_at = now
            raise
        self._failed_at = None
        return data


class TokenVerifier:
    """Checks access tokens and turns them into a :class:`Principal`.

    Args:
        secret: HS256 secret shared with identity.
        jwks_url: identity's ``/.well-known/jwks.json``; keys are fetched with
            :class:`jwt.PyJWKClient`, which caches the set for five minutes and
            refetches when a token names an unknown ``kid`` (key rotation), at
            most once per ``jwks_refetch_seconds``.
        algorithms: Accepted algorithms; defaults to ``["HS256"]`` with a
            secret and ``["RS256"]`` with a JWKS URL. Must match that family.
        leeway_seconds: Clock skew tolerated on ``exp`` and ``iat``.
        jwks: A JWK set document held locally (identity checking its own
            RS256 tokens with :meth:`TokenIssuer.jwks`); no HTTP involved.
        jwks_refetch_seconds: Least time between two fetches of the JWK set
            caused by unknown ``kid`` values.
        jwks_retry_seconds: After a failed fetch, how long callers get
            ``JwksUnavailable`` without another attempt.

    Raises:
        ValueError: Not exactly one of ``secret`` / ``jwks_url`` / ``jwks``, or
            algorithms of the other family.

    With a secret, :meth:`verify` is pure CPU and fine on the event loop. With
    a JWKS URL it may block on an HTTP fetch, so async code calls
    :meth:`averify`, which runs that fetch in a worker thread.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        algorithms: Sequence[str] | None = None,
        leeway_seconds: int = 10,
        jwks: Mapping[str, Any] | None = None,
        jwks_refetch_seconds: float = 30.0,
        jwks_retry_seconds: float = 5.0,
    ) -> None:
        if sum(source is not None and source != "" for source in (secret, jwks_url, jwks)) != 1:
            raise ValueError("TokenVerifier needs exactly one of secret, jwks_url or jwks")
        self.leeway_seconds = leeway_seconds
        self._secret = secret
        self._jwks: jwt.PyJWKClient | None = None
        self._static_keys: dict[str, Any] | None = None
        if jwks_url or jwks is not None:
            allowed = _RSA_ALGORITHMS
            self.algorithms = list(algorithms or ["RS256"])
            if jwks_url:
                self._jwks = _RateLimitedJWKClient(
                    jwks_url,
                    lifespan=300,
                    refetch_seconds=jwks_refetch_seconds,
                    retry_seconds=jwks_retry_seconds,
                    timeout=5,
                )
            else:
                self._static_keys = _keys_by_id(jwks or {})
        else:
            allowed = _HMAC_ALGORITHMS
            self.algorithms = list(algorithms or ["HS256"])
        if not self.algorithms or not set(self.algorithms) <= allowed:
            raise ValueError(f"algorithms {self.algorithms} do not fit this key type (allowed: {sorted(allowed)})")

    def verify(self, token: str) -> Principal:
        """The caller named by a valid ``token``.

        Blocks on the JWKS fetch when RS256 keys are not cached yet; from async
        code use :meth:`averify` (or ``anyio.to_thread.run_sync(verifier.verify, token)``).

        Raises:
            Unauthorized: ``TokenExpired`` past ``exp``; ``InvalidToken`` for a bad
                signature, issuer, audience, algorithm, missing claim or unknown role.
            Unavailable: ``JwksUnavailable`` when the key set cannot be fetched.
        """
        return self._decode(token, self._signing_key(token))

    async def averify(self, token: str) -> Principal:
        """:meth:`verify` for async code: a possible JWKS fetch runs in a worker thread."""
        if self._jwks is None:
            return self.verify(token)
        key = await anyio.to_thread.run_sync(self._signing_key, token)
        return self._decode(token, key)

    def _signing_key(self, token: str) -> Any:
        if self._static_keys is not None:
            try:
                kid = jwt.get_unverified_header(token).get("kid")
            except jwt.PyJWTError as exc:
                raise Unauthorized(f"invalid token: {exc}", type="InvalidToken") from exc
            if kid not in self._static_keys:
                raise Unauthorized(f"invalid token: no signing key {kid!r}", type="InvalidToken")
            return self._static_keys[kid]
        if self._jwks is None:
            return self._secret
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as exc:
            raise Unavailable("the token signing keys cannot be fetched", type="JwksUnavailable") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}", type="InvalidToken") from exc

    def _decode(self, token: str, key: Any) -> Principal:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self.leeway_seconds,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token has expired", type="TokenExpired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}", type="InvalidToken") from exc
        if not all(isinstance(claims[name], str) for name in _IDENTITY_CLAIMS):
            raise Unauthorized("invalid token: identity claims must be strings", type="InvalidToken")
        if claims["role"] not in ROLES:
            raise Unauthorized(f"invalid token: unknown role {claims['role']!r}", type="InvalidToken")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise Unauthorized("invalid token: scope must be a string", type="InvalidToken")
        session_id, token_id = claims.get("sid"), claims.get("jti")
        if not all(value is None or (isinstance(value, str) and value) for value in (session_id, token_id)):
            raise Unauthorized("invalid token: sid and jti must be strings", type="InvalidToken")
        return Principal(
            username=claims["sub"],
            user_id=claims["uid"],
            role=claims["role"],
            email=claims["email"],
            name=claims["name"],
            scopes=frozenset(scope.split()),
            session_id=session_id,
            token_id=token_id,
        )


def _keys_by_id(jwks: Mapping[str, Any]) -> dict[str, Any]:
    try:
        keys = jwt.PyJWKSet.from_dict(dict(jwks)).keys
    except jwt.PyJWTError as exc:
        raise ValueError(f"unusable JWK set: {exc}") from exc
    return {key.key_id: key.key for key in keys if key.key_id and key.public_key_use in ("sig", None)}
