"""Every identity query. Repositories never commit; the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.models import Client, Customer, CustomerIn, User

#: Insert new customers and update those whose data is older, a page in one statement (in number order,
#: so two pages never deadlock); a row back per change, ``inserted`` telling which. Within a page the
#: newest copy of a customer wins (ON CONFLICT may touch a row once).
UPSERT_CUSTOMERS_SQL = text("""
INSERT INTO customers AS c (customer_number, name, email, street, city, postal_code, country,
                            delivery_blocked, credit_blocked, changed_at)
SELECT DISTINCT ON (n.customer_number)
       n.customer_number, n.name, n.email, n.street, n.city, n.postal_code, n.country,
       n.delivery_blocked, n.credit_blocked, n.changed_at
FROM unnest(CAST(:numbers AS text[]), CAST(:names AS text[]), CAST(:emails AS text[]), CAST(:streets AS text[]),
            CAST(:cities AS text[]), CAST(:postal_codes AS text[]), CAST(:countries AS text[]),
            CAST(:delivery_blocked AS boolean[]), CAST(:credit_blocked AS boolean[]), CAST(:changed AS timestamptz[]))
     AS n(customer_number, name, email, street, city, postal_code, country, delivery_blocked, credit_blocked,
          changed_at)
ORDER BY n.customer_number, n.changed_at DESC
ON CONFLICT (customer_number) DO UPDATE
SET name = excluded.name, email = excluded.email, street = excluded.street, city = excluded.city,
    postal_code = excluded.postal_code, country = excluded.country, delivery_blocked = excluded.delivery_blocked,
    credit_blocked = excluded.credit_blocked, changed_at = excluded.changed_at
WHERE c.changed_at < excluded.changed_at
RETURNING c.xmax = 0 AS inserted
""")


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: str) -> User | None:
        result = await self.session.exec(select(User).where(User.id == user_id))
        return result.first()

    async def get_by_username(self, username: str) -> User | None:
        result = await self.session.exec(select(User).where(User.username == username))
        return result.first()

    async def list_users(self, *, limit: int, offset: int) -> Sequence[User]:
        result = await self.session.exec(select(User).order_by(col(User.username)).limit(limit).offset(offset))
        return result.all()

    async def existing_usernames(self, usernames: Sequence[str]) -> set[str]:
        result = await self.session.exec(select(User.username).where(col(User.username).in_(usernames)))
        return set(result.all())

    async def insert(self, user: User) -> bool:
        """Insert ``user``; False when the username or the e-mail address is taken (unique indexes decide)."""
        table = User.__table__  # type: ignore[attr-defined]
        result = await self.session.exec(
            insert(table).values(**user.model_dump()).on_conflict_do_nothing().returning(table.c.id)
        )
        return result.first() is not None

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.session.exec(update(User).where(col(User.id) == user_id).values(password_hash=password_hash))

    async def get_client(self, client_id: str) -> Client | None:
        result = await self.session.exec(select(Client).where(Client.client_id == client_id))
        return result.first()

    async def put_client(self, client: Client) -> None:
        """Insert the client, or give the stored one this name, secret hash and scopes (its creation time stays)."""
        table = Client.__table__  # type: ignore[attr-defined]
        statement = insert(table).values(**client.model_dump())
        await self.session.exec(
            statement.on_conflict_do_update(
                index_elements=["client_id"],
                set_={
                    "name": statement.excluded.name,
                    "secret_hash": statement.excluded.secret_hash,
                    "scopes": statement.excluded.scopes,
                },
            )
        )

    async def set_client_secret_hash(self, client_id: str, secret_hash: str) -> None:
        await self.session.exec(
            update(Client).where(col(Client.client_id) == client_id).values(secret_hash=secret_hash)
        )

    async def upsert_customers(self, items: Sequence[CustomerIn]) -> tuple[int, int]:
        """Apply a page of customers, newest wins per number; ``(inserted, updated)``."""
        connection = await self.session.connection()
        result = await connection.execute(
            UPSERT_CUSTOMERS_SQL,
            {
                "numbers": [c.customer_number for c in items],
                "names": [c.name for c in items],
                "emails": [c.email for c in items],
                "streets": [c.street for c in items],
                "cities": [c.city for c in items],
                "postal_codes": [c.postal_code for c in items],
                "countries": [c.country for c in items],
                "delivery_blocked": [c.delivery_blocked for c in items],
                "credit_blocked": [c.credit_blocked for c in items],
                "changed": [c.changed_at for c in items],
            },
        )
        flags = result.scalars().all()
        inserted = sum(flags)
        return inserted, len(flags) - inserted

    async def get_customer(self, customer_number: str) -> Customer | None:
        result = await self.session.exec(select(Customer).where(Customer.customer_number == customer_number))
        return result.first()

    async def list_customers(self, *, email: str | None, limit: int, offset: int) -> tuple[Sequence[Customer], int]:
        """A page of customers by number, and how many match; ``email`` matches whole, ignoring case."""
        rows = select(Customer).order_by(col(Customer.customer_number)).limit(limit).offset(offset)
        count = select(func.count()).select_from(Customer)
        if email is not None:
            # lower() on both sides, as the index is built (Python's lower() differs for some letters).
            match = func.lower(col(Customer.email)) == func.lower(email)
            rows, count = rows.where(match), count.where(match)
        items = (await self.session.exec(rows)).all()
        return items, (await self.session.exec(count)).one()
