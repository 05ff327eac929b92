"""The stand-in's schema and master data: made once, on its first start, the same every time.

:func:`prepare` creates the tables (``metadata.create_all``) and, when the
clock row is missing (a new database), seeds in the same transaction, under
an advisory lock (two processes starting at once seed once):

* PakLog's demo catalogue (``services/inventory/seed.py``: the same SKUs,
  names, prices, dimensions, and its stock),
* ``MAT-00001`` … generated materials (``random.Random(8)``): description
  (colour, category, size), weight, volume, EAN-13, price 1.00 to 500.00, stock 0 to 500,
* PakLog's demo users as customers (by their ``@example.com`` addresses),
  generated customers (DE/AT/NL/FR/IT, about 2 % credit-blocked), and the
  one-time customer ``0000999999``.

The rows get consecutive microseconds as ``LastChangedAt`` and version 1;
they are bulk-inserted (a second or two for the default sizes) and make no
events: they are the ERP's state before PakLog ever looked.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.erp.entities import ONE_TIME_CUSTOMER, ONE_TIME_CUSTOMER_NAME, PLANT
from services.erp.models import ean_check_digit
from services.erp.tables import clock, customers, materials, metadata, stock
from services.identity.seed import DEMO_USERS
from services.inventory.seed import DEMO_PRODUCTS

SEED = 8
#: Serialises create_all and the seed across processes sharing the database ("ERP" in ASCII).
ADVISORY_LOCK = 0x455250
FIRST_CUSTOMER = 100001
#: The GS1 prefix of the stand-in's EANs (400-440: Germany).
EAN_PREFIX = "4012345"

COLOURS = ("Red", "Blue", "Black", "White", "Green", "Grey", "Navy", "Yellow", "Orange", "Purple", "Pink", "Brown")


@dataclass(frozen=True)
class Category:
    name: str
    sizes: tuple[str, ...]
    #: kg and litres, (low, high).
    weight: tuple[float, float]
    volume: tuple[float, float]


CATEGORIES = (
    Category("T-shirt", ("XS", "S", "M", "L", "XL"), (0.15, 0.30), (0.6, 1.2)),
    Category("Hoodie", ("S", "M", "L", "XL", "XXL"), (0.45, 0.85), (2.0, 4.0)),
    Category("Sneaker", ("38", "39", "40", "41", "42", "43", "44", "45"), (0.6, 1.1), (5.0, 9.0)),
    Category("Mug", ("250 ml", "350 ml", "500 ml"), (0.25, 0.45), (0.8, 1.5)),
    Category("Water bottle", ("500 ml", "750 ml", "1 l"), (0.15, 0.40), (0.7, 1.4)),
    Category("Backpack", ("15 l", "20 l", "30 l"), (0.5, 1.4), (15.0, 35.0)),
    Category("Cap", ("one size",), (0.08, 0.15), (1.5, 3.0)),
    Category("Notebook", ("A6", "A5", "A4"), (0.10, 0.50), (0.2, 0.9)),
    Category("Desk lamp", ("small", "large"), (0.8, 2.0), (5.0, 12.0)),
    Category("Yoga mat", ("4 mm", "6 mm", "8 mm"), (0.9, 1.8), (6.0, 10.0)),
    Category("Phone case", ("S", "M", "L"), (0.03, 0.08), (0.1, 0.3)),
    Category("Scarf", ("one size",), (0.10, 0.30), (0.5, 1.5)),
)


@dataclass(frozen=True)
class Country:
    code: str
    #: (city, postal code prefix) pairs.
    cities: tuple[tuple[str, str], ...]
    streets: tuple[str, ...]
    postal_digits: int


COUNTRIES = (
    Country(
        "DE",
        (("Berlin", "10"), ("Hamburg", "20"), ("München", "80"), ("Köln", "50"), ("Frankfurt am Main", "60")),
        ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schillerstraße", "Goethestraße"),
        5,
    ),
    Country(
        "AT",
        (("Wien", "1"), ("Graz", "8"), ("Linz", "4"), ("Salzburg", "5"), ("Innsbruck", "6")),
        ("Hauptplatz", "Mariahilfer Straße", "Kirchengasse", "Bahnhofstraße", "Ringstraße"),
        4,
    ),
    Country(
        "NL",
        (("Amsterdam", "10"), ("Rotterdam", "30"), ("Utrecht", "35"), ("Den Haag", "25"), ("Eindhoven", "56")),
        ("Kerkstraat", "Dorpsstraat", "Molenweg", "Stationsweg", "Prinsengracht"),
        4,
    ),
    Country(
        "FR",
        (("Paris", "75"), ("Lyon", "69"), ("Marseille", "13"), ("Toulouse", "31"), ("Lille", "59")),
        ("Rue de la Paix", "Avenue Victor Hugo", "Rue Nationale", "Boulevard Voltaire", "Rue des Écoles"),
        5,
    ),
    Country(
        "IT",
        (("Roma", "00"), ("Milano", "20"), ("Napoli", "80"), ("Torino", "10"), ("Bologna", "40")),
        ("Via Roma", "Via Garibaldi", "Corso Italia", "Via Dante", "Piazza Mazzini"),
        5,
    ),
)
FIRST_NAMES = (
    "Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Emma", "Paul", "Lena", "Maximilian",
    "Julia", "Tobias", "Sara", "David", "Laura", "Matteo", "Giulia", "Luca", "Chiara", "Camille",
    "Louis", "Léa", "Hugo", "Chloé", "Daan", "Sanne", "Bram", "Fleur", "Elias", "Hannah",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hofmann", "Gruber", "Huber",
    "Bauer", "Pichler", "de Jong", "Jansen", "de Vries", "Bakker", "Visser", "Martin", "Bernard", "Dubois",
    "Moreau", "Laurent", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
)  # fmt: skip
#: Share of generated customers whose credit is blocked.
CREDIT_BLOCKED_SHARE = 0.02


def ean13(serial: int) -> str:
    """The stand-in's EAN-13 for its ``serial``-th material: prefix, five digits, check digit."""
    twelve = f"{EAN_PREFIX}{serial:05d}"
    return twelve + ean_check_digit(twelve)


def _ascii(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _postal_code(rng: random.Random, country: Country, prefix: str) -> str:
    digits = prefix + "".join(str(rng.randint(0, 9)) for _ in range(country.postal_digits - len(prefix)))
    if country.code == "NL":
        return f"{digits} {rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}"
    return digits


def _address(rng: random.Random, country: Country) -> dict[str, str]:
    city, prefix = rng.choice(country.cities)
    street = rng.choice(country.streets)
    number = rng.randint(1, 180)
    line = f"{number} {street}" if country.code == "FR" else f"{street} {number}"
    return {
        "street": line,
        "city": city,
        "postal_code": _postal_code(rng, country, prefix),
        "country": country.code,
    }


def material_rows(rng: random.Random, generated: int) -> Iterator[tuple[dict[str, Any], int]]:
    """Each material's row (without version and timestamp) and its stock: the demo catalogue, then ``MAT-*``."""
    serial = 0
    for sku, product in DEMO_PRODUCTS.items():
        serial += 1
        yield (
            {
                "material": sku,
                "description": product.name,
                "gross_weight": Decimal(product.weight_grams or 0) / 1000,
                "volume": Decimal(product.volume_cm3 or 0) / 1000,
                "ean": ean13(serial),
                "price": Decimal(product.price_cents) / 100,
            },
            product.on_hand,
        )
    for n in range(1, generated + 1):
        serial += 1
        category = rng.choice(CATEGORIES)
        colour = rng.choice(COLOURS)
        size = rng.choice(category.sizes)
        yield (
            {
                "material": f"MAT-{n:05d}",
                "description": f"{colour} {category.name.lower()}, {size}",
                "gross_weight": Decimal(f"{rng.uniform(*category.weight):.3f}"),
                "volume": Decimal(f"{rng.uniform(*category.volume):.3f}"),
                "ean": ean13(serial),
                "price": Decimal(rng.randint(100, 50_000)) / 100,
            },
            rng.randint(0, 500),
        )


def customer_rows(rng: random.Random, generated: int) -> Iterator[dict[str, Any]]:
    """Each customer's row (without version and timestamp): demo users, generated ones, the one-time customer."""
    number = FIRST_CUSTOMER
    germany = COUNTRIES[0]
    for user in DEMO_USERS.values():
        yield {
            "customer": f"{number:010d}",
            "name": user.full_name or user.username,
            "email": str(user.email),
            **_address(rng, germany),
            "delivery_blocked": False,
            "credit_blocked": False,
        }
        number += 1
    for n in range(1, generated + 1):
        country = rng.choice(COUNTRIES)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        yield {
            "customer": f"{number:010d}",
            "name": f"{first} {last}",
            "email": f"{_ascii(first)}.{_ascii(last)}.{n}@customers.example.net",
            **_address(rng, country),
            "delivery_blocked": False,
            "credit_blocked": rng.random() < CREDIT_BLOCKED_SHARE,
        }
        number += 1
    yield {
        "customer": ONE_TIME_CUSTOMER,
        "name": ONE_TIME_CUSTOMER_NAME,
        "email": "",
        "street": "",
        "city": "",
        "postal_code": "",
        "country": "DE",
        "delivery_blocked": False,
        "credit_blocked": False,
    }


async def _seed(conn: AsyncConnection, *, generated_materials: int, generated_customers: int) -> int:
    rng = random.Random(SEED)
    start = datetime.now(UTC)
    moment = (start + timedelta(microseconds=n) for n in itertools.count())
    material_list, stock_list = [], []
    for row, on_hand in material_rows(rng, generated_materials):
        material_list.append(
            row
            | {
                "base_unit": "EA",
                "weight_unit": "KG",
                "volume_unit": "L",
                "currency": "EUR",
                "version": 1,
                "last_changed_at": next(moment),
            }
        )
        stock_list.append(
            {
                "material": row["material"],
                "plant": PLANT,
                "unrestricted": on_hand,
                "version": 1,
                "last_changed_at": next(moment),
            }
        )
    customer_list = [
        row | {"version": 1, "last_changed_at": next(moment)} for row in customer_rows(rng, generated_customers)
    ]
    await conn.execute(insert(materials), material_list)
    await conn.execute(insert(stock), stock_list)
    await conn.execute(insert(customers), customer_list)
    await conn.execute(insert(clock).values(id=1, last_changed_at=next(moment), seeded_at=start))
    return len(material_list) + len(stock_list) + len(customer_list)


async def prepare(engine: AsyncEngine, *, generated_materials: int, generated_customers: int) -> int:
    """Create the tables and, in a new database, the master data; returns the rows seeded (0: seeded before)."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        await conn.run_sync(metadata.create_all)
        if (await conn.execute(select(func.count()).select_from(clock))).scalar_one():
            return 0
        return await _seed(conn, generated_materials=generated_materials, generated_customers=generated_customers)
