from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from common.security import AUDIENCE, ISSUER, Principal, TokenVerifier
from common.settings import ServiceSettings
from services.identity import service
from services.identity.app import create_app
from services.identity.models import Role, User
from services.identity.repository import IdentityRepository
from services.identity.seed import seed
from services.identity.settings import IdentitySettings
from tests.conftest import ServiceDatabases
from tests.support import rolled_back_client

Sessions = async_sessionmaker[AsyncSession]


def jwt_secret() -> str:
    """The secret the app under test signs with (``PAKLOG_JWT_SECRET`` or the dev default)."""
    return IdentitySettings(environment="test").jwt_secret


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["identity"]


@pytest.fixture
async def bare(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Sessions]]:
    """The app with an empty users table (rolled back after the test)."""
    async with rolled_back_client(create_app, "identity", database_url) as (client, sessions):
        yield client, sessions


@pytest.fixture
async def client(bare: tuple[httpx.AsyncClient, Sessions]) -> httpx.AsyncClient:
    """The app with the demo users seeded."""
    client, sessions = bare
    async with sessions() as session:
        await seed(session)
    return client


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/token", data={"username": username, "password": password})


async def bearer(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    resp = await login(client, username, password)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def new_user(**overrides: Any) -> dict[str, Any]:
    name = f"user-{uuid.uuid4().hex[:8]}"
    body: dict[str, Any] = {
        "username": name,
        "email": f"{name}@example.com",
        "full_name": "Test User",
        "password": "correct-horse",
        "role": "customer",
    }
    body.update(overrides)
    return body


async def test_login_issues_a_token_with_the_users_claims(client: httpx.AsyncClient) -> None:
    resp = await login(client, "alice", "alice-pass")
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "bearer"
    # A person's access token is short-lived (PAKLOG_ACCESS_TOKEN_SECONDS) and comes with a refresh token.
    assert body["expires_in"] == 900
    assert len(body["refresh_token"]) >= 40

    claims = jwt.decode(body["access_token"], jwt_secret(), algorithms=["HS256"], audience=AUDIENCE)
    assert claims["sub"] == "alice"
    assert claims["role"] == "customer"
    assert claims["email"] == "alice@example.com"
    assert claims["name"] == "Alice Customer"
    assert claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 900
    me = (await client.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})).json()
    assert claims["uid"] == me["id"]
    assert TokenVerifier(secret=jwt_secret()).verify(body["access_token"]) == Principal(
        username="alice",
        user_id=me["id"],
        role="customer",
        email="alice@example.com",
        name="Alice Customer",
        session_id=claims["sid"],
        token_id=claims["jti"],
    )


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong-pass"), ("nobody-here", "alice-pass"), ("alice", "ALICE-PASS"), ("olivia", "alice-pass")],
)
async def test_bad_credentials_are_401_and_reveal_nothing(
    client: httpx.AsyncClient, username: str, password: str
) -> None:
    resp = await login(client, username, password)
    assert resp.status_code == 401
    assert resp.json() == {"type": "InvalidCredentials", "detail": "incorrect username or password"}
    assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_unknown_user_still_pays_for_a_hash(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = service._dummy_hash

    def counting() -> str:
        calls.append("dummy")
        return real()

    monkeypatch.setattr(service, "_dummy_hash", counting)
    assert (await login(client, "nobody-here", "whatever")).status_code == 401
    assert (await login(client, "alice", "wrong-pass")).status_code == 401
    assert calls == ["dummy"]


async def test_login_ignores_username_case_and_whitespace(client: httpx.AsyncClient) -> None:
    assert (await login(client, " Alice ", "alice-pass")).status_code == 200


async def test_login_needs_a_form(client: httpx.AsyncClient) -> None:
    resp = await client.post("/token", json={"username": "alice", "password": "alice-pass"})
    assert resp.status_code == 422
    assert resp.json()["type"] == "ValidationError"
    assert set(resp.json()) == {"type", "detail"}
    missing = await client.post("/token", data={"username": "alice"})
    assert missing.status_code == 422


async def test_users_me_answers_the_profile(client: httpx.AsyncClient) -> None:
    resp = await client.get("/users/me", headers=await bearer(client, "olivia", "olivia-pass"))
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"id", "username", "email", "full_name", "role", "disabled"}
    assert body["username"] == "olivia"
    assert body["role"] == "operator"
    assert body["email"] == "olivia@example.com"


def _token(secret: str, **overrides: Any) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": "alice",
        "uid": "u-1",
        "role": "customer",
        "email": "alice@example.com",
        "name": "Alice",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("headers", "error_type"),
    [
        pytest.param(dict, "MissingToken", id="missing"),
        pytest.param(lambda: {"Authorization": "Bearer not.a.token"}, "InvalidToken", id="garbage"),
        pytest.param(lambda: {"Authorization": "Basic YWxpY2U6YWxpY2UtcGFzcw=="}, "MissingToken", id="basic"),
        pytest.param(
            lambda: {"Authorization": f"Bearer {_token(jwt_secret(), iat=1, exp=2)}"}, "TokenExpired", id="expired"
        ),
        pytest.param(
            lambda: {"Authorization": f"Bearer {_token('a-different-secret-that-is-also-long-enough')}"},
            "InvalidToken",
            id="wrong-secret",
        ),
        pytest.param(
            lambda: {"Authorization": f"Bearer {_token(jwt_secret(), aud='another-audience')}"},
            "InvalidToken",
            id="wrong-audience",
        ),
    ],
)
async def test_users_me_without_a_valid_token_is_401(
    client: httpx.AsyncClient, headers: Callable[[], dict[str, str]], error_type: str
) -> None:
    resp = await client.get("/users/me", headers=headers())
    assert resp.status_code == 401
    assert resp.json()["type"] == error_type
    assert set(resp.json()) == {"type", "detail"}
    assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_token_of_a_user_that_does_not_exist_is_401(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {_token(jwt_secret(), uid='gone')}"}
    resp = await client.get("/users/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["type"] == "UnknownUser"


@pytest.mark.parametrize(("username", "password"), [("alice", "alice-pass"), ("olivia", "olivia-pass")])
async def test_user_admin_needs_the_admin_role(client: httpx.AsyncClient, username: str, password: str) -> None:
    headers = await bearer(client, username, password)
    listed = await client.get("/users", headers=headers)
    assert listed.status_code == 403
    assert listed.json()["type"] == "Forbidden"
    created = await client.post("/users", json=new_user(), headers=headers)
    assert created.status_code == 403
    assert (await client.get("/users")).status_code == 401


async def test_admin_creates_a_user_who_can_log_in(client: httpx.AsyncClient) -> None:
    admin = await bearer(client, "admin", "admin-pass")
    body = new_user(role="operator")
    created = await client.post("/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == {"id", "username", "email", "full_name", "role", "disabled"}
    assert user["role"] == "operator"

    token = await bearer(client, body["username"], body["password"])
    assert (await client.get("/users/me", headers=token)).json() == user
    listed = (await client.get("/users", headers=admin)).json()
    assert {u["username"] for u in listed} >= {"alice", "olivia", "admin", body["username"]}


async def test_duplicate_username_is_409(client: httpx.AsyncClient) -> None:
    admin = await bearer(client, "admin", "admin-pass")
    body = new_user()
    assert (await client.post("/users", json=body, headers=admin)).status_code == 201
    again = await client.post("/users", json={**body, "email": "other@example.com"}, headers=admin)
    assert again.status_code == 409
    assert again.json()["type"] == "UsernameTaken"
    seeded = await client.post("/users", json=new_user(username="alice"), headers=admin)
    assert seeded.status_code == 409


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"username": "Bad Name!"}, id="username-pattern"),
        pytest.param({"username": "ab"}, id="username-short"),
        pytest.param({"email": "not-an-email"}, id="email"),
        pytest.param({"password": "short"}, id="password-short"),
        pytest.param({"password": "x" * 129}, id="password-long"),
        pytest.param({"role": "superuser"}, id="role"),
        pytest.param({"full_name": ""}, id="full-name"),
        pytest.param({"is_admin": True}, id="extra-field"),
    ],
)
async def test_bad_user_input_is_422(client: httpx.AsyncClient, overrides: dict[str, Any]) -> None:
    admin = await bearer(client, "admin", "admin-pass")
    resp = await client.post("/users", json=new_user(**overrides), headers=admin)
    assert resp.status_code == 422
    assert set(resp.json()) == {"type", "detail"}
    assert resp.json()["type"] == "ValidationError"


async def test_create_user_honours_idempotency_key(client: httpx.AsyncClient) -> None:
    admin = await bearer(client, "admin", "admin-pass")
    body = new_user()
    headers = {**admin, "Idempotency-Key": f"create-{body['username']}"}
    first = await client.post("/users", json=body, headers=headers)
    second = await client.post("/users", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    listed = (await client.get("/users", params={"limit": 500}, headers=admin)).json()
    assert [u["username"] for u in listed].count(body["username"]) == 1
    other = await client.post("/users", json=new_user(), headers=headers)
    assert other.status_code == 409
    assert other.json()["type"] == "IdempotencyKeyReused"


async def test_seed_is_idempotent(bare: tuple[httpx.AsyncClient, Sessions]) -> None:
    client, sessions = bare
    async with sessions() as session:
        assert await seed(session) == 3
    async with sessions() as session:
        assert await seed(session) == 0
    for username, password in [("alice", "alice-pass"), ("olivia", "olivia-pass"), ("admin", "admin-pass")]:
        assert (await login(client, username, password)).status_code == 200


async def test_outdated_hash_is_upgraded_at_login(bare: tuple[httpx.AsyncClient, Sessions]) -> None:
    client, sessions = bare
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1),)).hash("legacy-pass")
    async with sessions() as session, session.begin():
        session.add(
            User(
                id="legacy-1",
                username="legacy",
                email="legacy@example.com",
                full_name="Legacy",
                role=Role.CUSTOMER,
                password_hash=weak,
                created_at=datetime.now(UTC),
            )
        )
    assert (await login(client, "legacy", "legacy-pass")).status_code == 200
    async with sessions() as session:
        user = await IdentityRepository(session).get("legacy-1")
        assert user is not None
        assert user.password_hash != weak
        assert "m=65536" in user.password_hash
    assert (await login(client, "legacy", "legacy-pass")).status_code == 200


async def test_jwks_is_empty_with_hs256(client: httpx.AsyncClient) -> None:
    resp = await client.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    assert resp.json() == {"keys": []}


@pytest.fixture
def rsa_key_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "jwt.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


async def test_rs256_tokens_and_published_key(database_url: str, rsa_key_file: Path) -> None:
    def rs256_app(settings: ServiceSettings) -> FastAPI:
        return create_app(
            IdentitySettings(**settings.model_dump(), jwt_private_key_file=rsa_key_file, jwt_key_id="rot-7")
        )

    async with rolled_back_client(rs256_app, "identity", database_url) as (client, sessions):
        async with sessions() as session:
            await seed(session)
        (key,) = (await client.get("/.well-known/jwks.json")).json()["keys"]
        assert key["kid"] == "rot-7"
        assert key["kty"] == "RSA"
        assert "d" not in key

        token = (await login(client, "admin", "admin-pass")).json()["access_token"]
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        assert TokenVerifier(jwks={"keys": [key]}).verify(token).role == "admin"
        assert (await client.get("/users", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        # An HS256 token made with the development secret means nothing here.
        forged = {"Authorization": f"Bearer {_token(jwt_secret(), role='admin')}"}
        assert (await client.get("/users", headers=forged)).status_code == 401
