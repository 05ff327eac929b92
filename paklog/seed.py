"""Seed every service that has demo data (idempotent): users, the catalogue, the cartons."""

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


async def seed_all(postgres_url: str) -> dict[str, int]:
    """Create the demo users, catalogue and warehouse floor where missing; returns rows created per service."""
    created: dict[str, int] = {}
    for service, seeder in SEEDERS.items():
        engine = create_engine(database_url(postgres_url, f"paklog_{service}"), pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session:
                created[service] = await seeder(session)
        finally:
            await engine.dispose()
    return created
