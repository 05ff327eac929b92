"""Give the audit service's runtime role its login, after the owner migrated the database.

The migration (run by the database owner) creates :data:`WRITER_ROLE` without a
login and grants it ``SELECT`` and ``INSERT`` on ``audit_records`` only. The
password is a deployment secret, not migration history, so it is set here, by
``paklog migrate`` and ``paklog dev`` (``LocalPlatform``) right after migrating.
Creating or altering a role needs a superuser or a role with ``CREATEROLE``.
"""

from __future__ import annotations

import asyncpg

from services.audit.settings import WRITER_ROLE


def _libpq(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


async def provision_writer(owner_url: str, password: str, role: str = WRITER_ROLE) -> None:
    """Create ``role`` (or update it) with ``LOGIN`` and ``password``, and let it connect to the audit database.

    Idempotent: run it after every migration (a changed password is applied).

    Args:
        owner_url: The audit database, as its owner (a superuser or a ``CREATEROLE`` role).
        password: The writer's password (:func:`services.audit.settings.writer_password`).
        role: The runtime role.
    """
    conn = await asyncpg.connect(_libpq(owner_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        verb = "ALTER" if exists else "CREATE"
        # Role names and passwords cannot be bound parameters: the server quotes them (%I, %L).
        statement = await conn.fetchval(
            f"SELECT format('{verb} ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L', $1::text, $2::text)",
            role,
            password,
        )
        await conn.execute(statement)
        grant = await conn.fetchval(
            "SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), $1::text)", role
        )
        await conn.execute(grant)
    finally:
        await conn.close()
