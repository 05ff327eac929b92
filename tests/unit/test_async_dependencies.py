"""No request waits on a worker thread for its dependencies.

FastAPI runs a plain ``def`` dependency in anyio's thread pool: a thread hop
per dependency per request, which cost about a fifth of the CPU of a keyed
orders call (docs/performance.md). Every dependency of every route of every
app we serve is therefore a coroutine (or an async generator, or an object
with an async ``__call__``, as FastAPI's security schemes are).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordRequestForm
from starlette.routing import BaseRoute, Mount

from common.settings import SERVICE_NAMES

#: Classes FastAPI builds per request from a form: the login routes' only way to read one.
THREADED_ON_PURPOSE: set[Any] = {OAuth2PasswordRequestForm}


def _apps() -> Iterator[tuple[str, Callable[[], FastAPI]]]:
    from gateway.app import create_app

    yield "gateway", create_app
    for name in (*SERVICE_NAMES, "carriers", "erp"):
        yield name, importlib.import_module(f"services.{name}.app").create_app


def _is_async(call: Any) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    method = getattr(type(call), "__call__", None)  # noqa: B004 -- an instance with a __call__ method
    return not inspect.isclass(call) and (inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method))


def _sync_dependencies(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        call = dependency.call
        if call is not None and call not in THREADED_ON_PURPOSE and not _is_async(call):
            yield getattr(call, "__qualname__", repr(call))
        yield from _sync_dependencies(dependency)


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, including those of included routers (FastAPI keeps them behind the router)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included: Any = getattr(route, "original_router", None)  # an included router
        if included is not None:
            yield from _api_routes(included.routes)
        elif isinstance(route, Mount):
            yield from _api_routes(route.routes)


@pytest.mark.parametrize(("name", "factory"), list(_apps()), ids=[name for name, _ in _apps()])
def test_every_dependency_is_a_coroutine(name: str, factory: Callable[[], FastAPI]) -> None:
    app = factory()
    routes = list(_api_routes(app.routes))
    assert len(routes) > 1, f"{name} has no routes but /healthz"
    threaded = {
        f"{route.path} -> {dependency}" for route in routes for dependency in _sync_dependencies(route.dependant)
    }
    assert not threaded, f"{name} runs these dependencies in a thread: {sorted(threaded)}"
    # An async generator endpoint is a stream (Server-Sent Events): it runs on the event loop too.
    sync_endpoints = [route.path for route in routes if not _is_async(route.endpoint)]
    assert not sync_endpoints, f"{name} runs these endpoints in a thread: {sync_endpoints}"
