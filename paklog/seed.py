"""Seed every service that has demo data (idempotent): users and the ERP's client, the catalogue, the cartons."""

from __future__ import annotations

from common.db import create_engine, create_sessionmaker
from common.settings import database_url
from services.identity.seed import seed as seed_identity
from services.inventory.seed import seed as seed_inventory
from services.shipping.seed import seed as seed_shipping
from services.warehouse.seed import seed as seed_warehouse

SEEDERS = {
    "identity": seed_identity,
    "inventory": seed_inventory,
    "warehouse": seed_warehouse,
    "shipping": seed_shipping,
}


async def seed_all(postgres_url: str, *, erp_client_secret: str | None = None) -> dict[str, int]:
    """Create the demo users, catalogue and warehouse floor where missing; returns rows created per service.

    Args:
        postgres_url: The server of every service's database.
        erp_client_secret: The ERP's OAuth2 client secret (:func:`common.partners.erp_client_secret`);
            identity registers (or re-keys) the client ``erp`` with it. None leaves the clients alone.
    """
    created: dict[str, int] = {}
    for service, seeder in SEEDERS.items():
        engine = create_engine(database_url(postgres_url, f"paklog_{service}"), pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session:
                if service == "identity":
                    created[service] = await seed_identity(session, erp_client_secret=erp_client_secret)
                else:
                    created[service] = await seeder(session)
        finally:
            await engine.dispose()
    return created
