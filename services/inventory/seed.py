"""Demo catalogue: ten SKUs, ``MUG-RED`` and ``TEE-BLK-M`` with 100 units each."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.inventory import service
from services.inventory.models import ProductUpsert
from services.inventory.repository import InventoryRepository

DEMO_PRODUCTS: dict[str, ProductUpsert] = {
    "MUG-RED": ProductUpsert(name="Red mug", price_cents=1200, on_hand=100, weight_grams=350, volume_cm3=1200),
    "MUG-BLU": ProductUpsert(name="Blue mug", price_cents=1200, on_hand=80, weight_grams=350, volume_cm3=1200),
    "TEE-BLK-M": ProductUpsert(name="Black tee, M", price_cents=2500, on_hand=100, weight_grams=180, volume_cm3=900),
    "TEE-BLK-L": ProductUpsert(name="Black tee, L", price_cents=2500, on_hand=60, weight_grams=200, volume_cm3=1000),
    "TEE-WHT-M": ProductUpsert(name="White tee, M", price_cents=2500, on_hand=60, weight_grams=180, volume_cm3=900),
    "CAP-GRN": ProductUpsert(name="Green cap", price_cents=1800, on_hand=40, weight_grams=120, volume_cm3=2500),
    "BAG-TOTE": ProductUpsert(name="Canvas tote bag", price_cents=1500, on_hand=120, weight_grams=150, volume_cm3=600),
    "BTL-STEEL": ProductUpsert(
        name="Steel bottle, 750 ml", price_cents=2200, on_hand=50, weight_grams=320, volume_cm3=1100
    ),
    "NOTE-A5": ProductUpsert(name="A5 notebook", price_cents=900, on_hand=200, weight_grams=250, volume_cm3=450),
    "PEN-BLK": ProductUpsert(name="Black gel pen", price_cents=300, on_hand=500, weight_grams=12, volume_cm3=20),
    "LAMP-DESK": ProductUpsert(name="Desk lamp", price_cents=4900, on_hand=1, weight_grams=1400, volume_cm3=9000),
}


async def seed(session: AsyncSession) -> int:
    """Create the demo SKUs that do not exist yet; existing stock is left alone.

    Demo SKUs seeded before dimensions existed (0 g, 0 cm³) get the catalogue's dimensions.
    """
    repo = InventoryRepository(session)
    created = 0
    async with session.begin():
        existing = await repo.existing_skus(list(DEMO_PRODUCTS))
        for sku, product in DEMO_PRODUCTS.items():
            if sku not in existing:
                await service.upsert_product(repo, sku, product)
                created += 1
            else:
                await repo.fill_missing_dimensions(sku, product.weight_grams or 0, product.volume_cm3 or 0)
    return created
