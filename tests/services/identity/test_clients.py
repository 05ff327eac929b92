"""Partner systems' logins: the OAuth2 client-credentials grant at ``/token`` (the ERP's client ``erp``)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from urllib.parse import quote_plus

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from common.partners import ERP_CLIENT_ID, erp_client_secret
from common.security import AUDIENCE, ISSUER, TokenVerifier
from services.identity import service
from services.identity.app import create_app
from services.identity.repository import IdentityRepository
from services.identity.seed import seed
from tests.conftest import ServiceDatabases
from tests.services.identity.test_identity import jwt_secret
from tests.support import rolled_back_client

Sessions = async_sessionmaker[AsyncSession]
SECRET = erp_client_secret("a-service-token-only-these-tests-use-0123456789", None)


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["identity"]


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Sessions]]:
    """Identity with the demo users and the ERP's client seeded (rolled back after the test)."""
    async with rolled_back_client(create_app, "identity", database_url) as (client, sessions):
        async with sessions() as session:
            await seed(session, erp_client_secret=SECRET)
        yield client, sessions


@pytest.fixture
def client(app: tuple[httpx.AsyncClient, Sessions]) -> httpx.AsyncClient:
    return app[0]


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


async def client_token(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    return await client.post("/token", data={"grant_type": "client_credentials", **fields})


def test_the_derived_secret_is_bound_to_the_service_token() -> None:
    assert erp_client_secret("token-a" * 8, None) != erp_client_secret("token-b" * 8, None)
    assert erp_client_secret("token-a" * 8, "") == erp_client_secret("token-a" * 8, None)
    assert erp_client_secret("token-a" * 8, "configured") == "configured"


@pytest.mark.parametrize("how", ["form", "basic"])
async def test_the_erp_gets_a_partner_token_with_its_scope(client: httpx.AsyncClient, how: str) -> None:
    if how == "form":
        resp = await client_token(client, client_id=ERP_CLIENT_ID, client_secret=SECRET)
    else:
        resp = await client.post(
            "/token", data={"grant_type": "client_credentials"}, headers=basic(ERP_CLIENT_ID, SECRET)
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no refresh token
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("bearer", 3600, "erp")

    claims = jwt.decode(body["access_token"], jwt_secret(), algorithms=["HS256"], audience=AUDIENCE)
    assert (claims["sub"], claims["role"], claims["scope"], claims["iss"]) == ("erp", "partner", "erp", ISSUER)
    principal = TokenVerifier(secret=jwt_secret()).verify(body["access_token"])
    assert principal.is_partner
    assert principal.scopes == frozenset({"erp"})
    assert principal.username == "erp"


async def test_a_partner_token_opens_no_user_route(client: httpx.AsyncClient) -> None:
    token = (await client_token(client, client_id=ERP_CLIENT_ID, client_secret=SECRET)).json()["access_token"]
    resp = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status_code, resp.json()["type"]) == (403, "PartnerToken")
    resp = await client.get("/users", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status_code, resp.json()["type"]) == (403, "PartnerToken")


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"client_id": ERP_CLIENT_ID, "client_secret": SECRET + "x"}, id="wrong-secret"),
        pytest.param({"client_id": ERP_CLIENT_ID, "client_secret": ""}, id="empty-secret"),
        pytest.param({"client_id": "carrier", "client_secret": SECRET}, id="unknown-client"),
        pytest.param({"client_id": ERP_CLIENT_ID}, id="no-secret"),
        pytest.param({}, id="no-credentials"),
    ],
)
async def test_bad_client_credentials_are_401_invalid_client(client: httpx.AsyncClient, fields: dict[str, str]) -> None:
    resp = await client_token(client, **fields)
    assert resp.status_code == 401, resp.text
    assert resp.json() == {"type": "InvalidClient", "detail": "unknown client or wrong client secret"}


async def test_an_overlong_client_field_is_refused_before_any_hashing(client: httpx.AsyncClient) -> None:
    resp = await client_token(client, client_id=ERP_CLIENT_ID, client_secret="x" * 300)
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(basic(ERP_CLIENT_ID, "wrong")["Authorization"], id="wrong-secret"),
        pytest.param("Basic not-base64!", id="not-base64"),
        pytest.param("Basic " + base64.b64encode(b"no-colon").decode(), id="no-colon"),
        pytest.param("Bearer " + base64.b64encode(f"erp:{SECRET}".encode()).decode(), id="not-basic"),
    ],
)
async def test_a_bad_basic_header_is_401_invalid_client(client: httpx.AsyncClient, header: str) -> None:
    resp = await client.post("/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header})
    assert (resp.status_code, resp.json()["type"]) == (401, "InvalidClient")


async def test_credentials_in_form_and_basic_at_once_are_400(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": ERP_CLIENT_ID, "client_secret": SECRET},
        headers=basic(ERP_CLIENT_ID, SECRET),
    )
    assert (resp.status_code, resp.json()["type"]) == (400, "InvalidRequest")


async def test_other_grants_are_400_and_the_password_grant_still_works(client: httpx.AsyncClient) -> None:
    resp = await client.post("/token", data={"grant_type": "authorization_code", "code": "x"})
    assert (resp.status_code, resp.json()["type"]) == (400, "UnsupportedGrantType")
    people = await client.post("/token", data={"grant_type": "password", "username": "alice", "password": "alice-pass"})
    assert people.status_code == 200
    assert "scope" not in jwt.decode(people.json()["access_token"], options={"verify_signature": False})
    assert (await client.post("/token", data={"grant_type": "password", "username": "alice"})).status_code == 422
    # A client's credentials are no password login, and a user's password is no client's secret.
    assert (await client.post("/token", data={"username": ERP_CLIENT_ID, "password": SECRET})).status_code == 401
    wrong = await client_token(client, client_id="alice", client_secret="alice-pass")
    assert (wrong.status_code, wrong.json()["type"]) == (401, "InvalidClient")


async def test_the_secret_is_stored_as_an_argon2_hash_and_reseeding_rekeys_only_a_changed_one(
    app: tuple[httpx.AsyncClient, Sessions],
) -> None:
    client, sessions = app
    async with sessions() as session:
        stored = await IdentityRepository(session).get_client(ERP_CLIENT_ID)
        assert stored is not None
        first_hash = stored.secret_hash
    assert first_hash.startswith("$argon2")
    assert SECRET not in first_hash
    assert (stored.scopes, stored.name) == (["erp"], "ERP")

    async with sessions() as session:
        assert await seed(session, erp_client_secret=SECRET) == 0  # nothing new, the hash untouched
    async with sessions() as session:
        again = await IdentityRepository(session).get_client(ERP_CLIENT_ID)
        assert again is not None
        assert again.secret_hash == first_hash

    async with sessions() as session:
        assert await seed(session, erp_client_secret="a-configured-secret-that-replaced-it") == 0
    old = await client_token(client, client_id=ERP_CLIENT_ID, client_secret=SECRET)
    assert old.status_code == 401
    new = await client_token(client, client_id=ERP_CLIENT_ID, client_secret="a-configured-secret-that-replaced-it")
    assert new.status_code == 200


async def test_an_unknown_client_still_pays_for_a_hash(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = service._dummy_hash

    def counting() -> str:
        calls.append("dummy")
        return real()

    monkeypatch.setattr(service, "_dummy_hash", counting)
    assert (await client_token(client, client_id="nobody", client_secret="whatever")).status_code == 401
    assert (await client_token(client, client_id=ERP_CLIENT_ID, client_secret="wrong")).status_code == 401
    assert calls == ["dummy"]
