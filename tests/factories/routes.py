"""The suite builds a new application for nearly every test (each its own database binding and
lifespan). FastAPI 0.165 builds an included route's request handler (its dependencies'
signatures, its body and response models) lazily, on an application's first request, for every
route it passes: about 0.7 s for CareBridge's routes, per application (measured: a fresh app's
first ``GET /api/v1/health``, 686 ms; the second, under 5 ms). The routes ``create_app`` includes
are the same objects in every application, so a handler built once is kept and given to the
next application that includes the same route the same way (the same router, path, inclusion
dependencies and body limit). A production process builds one application and is not touched.

What a kept handler does not follow: an application's ``dependency_overrides`` (FastAPI reads
them from the application that built it). The suite sets none (tests use the real thing);
:func:`check_no_overrides` says so if that ever changes.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import fastapi.routing
from fastapi import FastAPI

_Context: Any = fastapi.routing._EffectiveRouteContext
_build = _Context.from_api_route.__func__
_built: dict[tuple[Hashable, ...], tuple[Any, ...]] = {}


def _from_api_route(cls: Any, *, original_route: Any, include_context: Any) -> Any:
    dependencies = tuple(getattr(d, "dependency", d) for d in include_context.dependencies)
    router = include_context.included_router
    key = (
        id(original_route),
        id(router),
        include_context.path_for(original_route),
        tuple(map(id, dependencies)),
        include_context.max_body_size,
    )
    found = _built.get(key)
    if found is None:
        context = _build(cls, original_route=original_route, include_context=include_context)
        # The objects keyed by id are held with the context: no id is reused while it is kept.
        found = _built[key] = (context, original_route, router, dependencies)
    return found[0]


def keep_built_routes() -> None:
    _Context.from_api_route = classmethod(_from_api_route)


def check_no_overrides(app: FastAPI) -> None:
    assert not app.dependency_overrides, (
        "tests/factories/routes.py keeps route handlers across applications: overrides would "
        "be ignored"
    )
