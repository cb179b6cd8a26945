"""Every route declares who may call it."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from carebridge.platform.access import PUBLIC, declared_callers, endpoints


def test_every_route_declares_its_caller(app: FastAPI) -> None:
    found = dict(endpoints(app.routes))
    assert {"/health/ready", "/metrics", "/", "/api/docs"} <= set(found)
    undeclared = [path for path, dependant in found.items() if not declared_callers(dependant)]
    assert undeclared == []


def test_a_route_without_a_caller_is_detected(app: FastAPI) -> None:
    router = APIRouter(prefix="/api/v1/probe")

    @router.get("/forgotten")
    async def forgotten() -> None:
        return None

    @router.get("/declared", dependencies=[PUBLIC])
    async def declared() -> None:
        return None

    app.include_router(router)
    found = dict(endpoints(app.routes))
    assert declared_callers(found["/api/v1/probe/forgotten"]) == set()
    assert declared_callers(found["/api/v1/probe/declared"]) != set()


def test_caller_declarations_are_coroutines() -> None:
    """A plain ``def`` dependency runs in a worker thread on every request: callers must not."""
    import inspect

    from carebridge.platform.access import CALLER_DEPENDENCIES

    assert CALLER_DEPENDENCIES
    assert all(inspect.iscoroutinefunction(dep) for dep in CALLER_DEPENDENCIES)
