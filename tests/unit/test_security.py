from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from common.errors import Unauthorized, Unavailable
from common.security import AUDIENCE, ISSUER, Principal, TokenIssuer, TokenVerifier

SECRET = "unit-test-secret-that-is-long-enough-for-hs256"
ALICE: dict[str, Any] = {
    "username": "alice",
    "user_id": "u-1",
    "role": "customer",
    "email": "alice@example.com",
    "name": "Alice Customer",
}


def claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "sub": "alice",
        "uid": "u-1",
        "role": "customer",
        "email": "alice@example.com",
        "name": "Alice Customer",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def rsa_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def rejected(verifier: TokenVerifier, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as info:
        verifier.verify(token)
    return info.value


def test_hs256_round_trip_carries_the_identity() -> None:
    issuer = TokenIssuer(secret=SECRET, ttl_seconds=900)
    token = issuer.issue(**ALICE)

    principal = TokenVerifier(secret=SECRET).verify(token)

    assert principal == Principal(**ALICE)
    raw = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert raw["iss"] == ISSUER
    assert raw["exp"] - raw["iat"] == 900
    assert issuer.jwks() == {"keys": []}


def test_has_role_matches_any_of_the_given_roles() -> None:
    operator = Principal(username="olivia", user_id="u-2", role="operator", email="o@example.com", name="Olivia")
    assert operator.has_role("operator", "admin")
    assert not operator.has_role("admin")


def test_expired_token_is_token_expired() -> None:
    past = datetime.now(UTC) - timedelta(minutes=5)
    token = jwt.encode(claims(iat=past - timedelta(hours=1), exp=past), SECRET, algorithm="HS256")
    assert rejected(TokenVerifier(secret=SECRET), token).type == "TokenExpired"


def test_expiry_within_leeway_is_accepted() -> None:
    token = jwt.encode(claims(exp=datetime.now(UTC) - timedelta(seconds=3)), SECRET, algorithm="HS256")
    assert TokenVerifier(secret=SECRET, leeway_seconds=10).verify(token).username == "alice"


def test_wrong_secret_is_invalid() -> None:
    token = TokenIssuer(secret="another-secret-of-at-least-thirty-two-bytes").issue(**ALICE)
    assert rejected(TokenVerifier(secret=SECRET), token).type == "InvalidToken"


@pytest.mark.parametrize(
    "bad_claims",
    [
        pytest.param({"aud": "someone-else"}, id="wrong-audience"),
        pytest.param({"iss": "evil-issuer"}, id="wrong-issuer"),
        pytest.param({"role": "superuser"}, id="unknown-role"),
        pytest.param({"uid": None}, id="missing-uid"),
        pytest.param({"exp": None}, id="missing-exp"),
        pytest.param({"email": 42}, id="non-string-claim"),
        pytest.param({"scope": ["erp"]}, id="non-string-scope"),
        pytest.param({"sid": 7}, id="non-string-session"),
        pytest.param({"jti": ""}, id="empty-token-id"),
    ],
)
def test_bad_claims_are_invalid(bad_claims: dict[str, Any]) -> None:
    token = jwt.encode(claims(**bad_claims), SECRET, algorithm="HS256")
    assert rejected(TokenVerifier(secret=SECRET), token).type == "InvalidToken"


def test_a_persons_token_names_its_session_and_every_token_has_its_own_id() -> None:
    issuer = TokenIssuer(secret=SECRET, ttl_seconds=3600)
    token = issuer.issue(**ALICE, session_id="s-1", ttl_seconds=120)
    principal = TokenVerifier(secret=SECRET).verify(token)
    assert (principal.session_id, len(principal.token_id or "")) == ("s-1", 32)
    raw = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert raw["exp"] - raw["iat"] == 120
    other = TokenVerifier(secret=SECRET).verify(issuer.issue(**ALICE, session_id="s-1"))
    assert other.token_id != principal.token_id
    assert other == principal  # the same caller in the same session
    assert TokenVerifier(secret=SECRET).verify(issuer.issue(**ALICE)).session_id is None


def test_tampered_payload_is_invalid() -> None:
    header, payload, signature = TokenIssuer(secret=SECRET).issue(**ALICE).split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    assert rejected(TokenVerifier(secret=SECRET), f"{header}.{forged}.{signature}").type == "InvalidToken"


@pytest.mark.parametrize("token", ["", "not.a.token", "garbage", "a.b"])
def test_garbage_is_invalid(token: str) -> None:
    assert rejected(TokenVerifier(secret=SECRET), token).type == "InvalidToken"


def test_unsigned_token_is_invalid() -> None:
    token = jwt.encode(claims(), "", algorithm="none")
    assert rejected(TokenVerifier(secret=SECRET), token).type == "InvalidToken"


def test_a_partner_token_carries_its_scopes_and_a_persons_none() -> None:
    issuer = TokenIssuer(secret=SECRET)
    partner: dict[str, Any] = {
        "username": "erp",
        "user_id": "client:erp",
        "role": "partner",
        "email": "",
        "name": "ERP",
    }
    token = issuer.issue(**partner, scopes=["erp", "erp:read"])
    assert jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE)["scope"] == "erp erp:read"
    principal = TokenVerifier(secret=SECRET).verify(token)
    assert (principal.is_partner, principal.scopes) == (True, frozenset({"erp", "erp:read"}))
    person = TokenVerifier(secret=SECRET).verify(issuer.issue(**ALICE))
    assert (person.is_partner, person.scopes) == (False, frozenset())
    with pytest.raises(ValueError, match="scopes"):
        issuer.issue(**partner, scopes=["two words"])


def test_issuer_refuses_unknown_role() -> None:
    with pytest.raises(ValueError, match="role"):
        TokenIssuer(secret=SECRET).issue(**{**ALICE, "role": "root"})


def test_misconfiguration_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        TokenVerifier()
    with pytest.raises(ValueError, match="exactly one"):
        TokenVerifier(secret=SECRET, jwks_url="http://127.0.0.1:1/jwks.json")
    with pytest.raises(ValueError, match="algorithms"):
        TokenVerifier(secret=SECRET, algorithms=["RS256"])
    with pytest.raises(ValueError, match="algorithms"):
        TokenVerifier(jwks_url="http://127.0.0.1:1/jwks.json", algorithms=["HS256"])
    with pytest.raises(ValueError, match="secret or an RSA"):
        TokenIssuer()


@dataclass
class JwksServer:
    url: str
    requests: list[str] = field(default_factory=list)
    failing: list[bool] = field(default_factory=lambda: [False])  # set [True] to answer 503


@pytest.fixture
def jwks_server() -> Iterator[tuple[JwksServer, TokenIssuer]]:
    """identity's JWKS document served over real HTTP from a thread."""
    issuer = TokenIssuer(private_key_pem=rsa_private_pem(), key_id="test-key")
    document = json.dumps(issuer.jwks()).encode()
    seen: list[str] = []
    failing = [False]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if failing[0]:
                self.send_error(503)
                return
            if self.path != "/.well-known/jwks.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield JwksServer(f"http://{host!s}:{port}/.well-known/jwks.json", seen, failing), issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_rs256_round_trip_through_jwks(jwks_server: tuple[JwksServer, TokenIssuer]) -> None:
    server, issuer = jwks_server
    token = issuer.issue(**ALICE)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": "test-key", "typ": "JWT"}
    (published,) = issuer.jwks()["keys"]
    assert published["kid"] == "test-key"
    assert published["kty"] == "RSA"
    assert "d" not in published  # never the private exponent

    verifier = TokenVerifier(jwks_url=server.url, algorithms=["RS256"])
    assert verifier.verify(token) == Principal(**ALICE)
    assert verifier.verify(issuer.issue(**{**ALICE, "role": "admin"})).role == "admin"
    assert server.requests == ["/.well-known/jwks.json"]  # the key set is cached


async def test_averify_fetches_keys_off_the_event_loop(jwks_server: tuple[JwksServer, TokenIssuer]) -> None:
    server, issuer = jwks_server
    verifier = TokenVerifier(jwks_url=server.url)
    assert (await verifier.averify(issuer.issue(**ALICE))).username == "alice"
    with pytest.raises(Unauthorized):
        await verifier.averify("not.a.token")


def test_rs256_rejects_other_keys_and_algorithm_confusion(jwks_server: tuple[JwksServer, TokenIssuer]) -> None:
    server, issuer = jwks_server
    verifier = TokenVerifier(jwks_url=server.url)
    impostor = TokenIssuer(private_key_pem=rsa_private_pem(), key_id="test-key")
    assert rejected(verifier, impostor.issue(**ALICE)).type == "InvalidToken"
    unknown_kid = TokenIssuer(private_key_pem=rsa_private_pem(), key_id="rotated-away")
    assert rejected(verifier, unknown_kid.issue(**ALICE)).type == "InvalidToken"
    # HS256 "signed" with the published public key must not pass as RS256.
    public_pem = jwt.PyJWK(issuer.jwks()["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = _hs256(claims(), public_pem, {"kid": "test-key"})
    assert rejected(verifier, forged).type == "InvalidToken"


def _hs256(payload: dict[str, Any], key: bytes, header: dict[str, str]) -> str:
    """Sign by hand: PyJWT refuses to HMAC with a PEM, an attacker would not."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in payload.items()}
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', **header}).encode())}.{b64(json.dumps(body).encode())}"
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_unreachable_jwks_is_unavailable_not_unauthorized() -> None:
    issuer = TokenIssuer(private_key_pem=rsa_private_pem())
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]
    verifier = TokenVerifier(jwks_url=f"http://127.0.0.1:{port}/.well-known/jwks.json")
    with pytest.raises(Unavailable) as info:
        verifier.verify(issuer.issue(**ALICE))
    assert info.value.type == "JwksUnavailable"


def test_local_jwk_set_verifies_without_http() -> None:
    issuer = TokenIssuer(private_key_pem=rsa_private_pem(), key_id="local")
    verifier = TokenVerifier(jwks=issuer.jwks())
    assert verifier.verify(issuer.issue(**ALICE)) == Principal(**ALICE)
    impostor = TokenIssuer(private_key_pem=rsa_private_pem(), key_id="local")
    assert rejected(verifier, impostor.issue(**ALICE)).type == "InvalidToken"
    assert rejected(verifier, TokenIssuer(secret=SECRET).issue(**ALICE)).type == "InvalidToken"
    with pytest.raises(ValueError, match="JWK set"):
        TokenVerifier(jwks={"keys": []})


def test_unknown_kids_do_not_fetch_per_request(jwks_server: tuple[JwksServer, TokenIssuer]) -> None:
    server, issuer = jwks_server
    verifier = TokenVerifier(jwks_url=server.url, jwks_refetch_seconds=60)
    assert verifier.verify(issuer.issue(**ALICE)).username == "alice"
    forger = rsa_private_pem()
    for n in range(20):
        token = TokenIssuer(private_key_pem=forger, key_id=f"forged-{n}").issue(**ALICE)
        assert rejected(verifier, token).type == "InvalidToken"
    assert server.requests == ["/.well-known/jwks.json"]


def test_an_unknown_kid_refetches_once_per_interval(jwks_server: tuple[JwksServer, TokenIssuer]) -> None:
    server, issuer = jwks_server
    verifier = TokenVerifier(jwks_url=server.url, jwks_refetch_seconds=0.3)
    verifier.verify(issuer.issue(**ALICE))
    time.sleep(0.35)
    rotated = TokenIssuer(private_key_pem=rsa_private_pem(), key_id="rotated")
    for _ in range(5):
        assert rejected(verifier, rotated.issue(**ALICE)).type == "InvalidToken"
    assert len(server.requests) == 2  # the first unknown kid refetched; the next four did not


def test_a_failed_fetch_is_retried_once_per_interval(jwks_server: tuple[JwksServer, TokenIssuer]) -> None:
    server, issuer = jwks_server
    server.failing[0] = True
    verifier = TokenVerifier(jwks_url=server.url, jwks_retry_seconds=0.3)
    token = issuer.issue(**ALICE)
    for _ in range(10):
        with pytest.raises(Unavailable) as info:
            verifier.verify(token)
        assert info.value.type == "JwksUnavailable"
    assert len(server.requests) == 1
    server.failing[0] = False
    time.sleep(0.35)
    assert verifier.verify(token).username == "alice"
    assert len(server.requests) == 2
