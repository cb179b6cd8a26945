"""Who may call a route. Every route declares its caller as a dependency registered here.

A route is public only if it says so (``dependencies=[PUBLIC]`` or a ``Public`` parameter); the
accounts domain registers the authenticated callers (``AnyUser``, ``PatientActor``, ...). A test
walks every route of the application and fails if one declares no caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

F = TypeVar("F", bound=Callable[..., Any])

CALLER_DEPENDENCIES: set[Callable[..., Any]] = set()
# Callers that accept an API key, with the one scope the key must hold.
API_KEY_SCOPES: dict[Callable[..., Any], str] = {}
# The problems (status, code) a caller declaration answers before the route runs; OpenAPI lists
# them on every route that declares the caller (platform/problems.py).
CALLER_PROBLEMS: dict[Callable[..., Any], frozenset[tuple[int, str]]] = {}


def caller(dependency: F, *, api_key_scope: str | None = None) -> F:
    """Register ``dependency`` as a caller declaration; with ``api_key_scope`` it also accepts
    an API key holding that scope."""
    CALLER_DEPENDENCIES.add(dependency)
    if api_key_scope is not None:
        API_KEY_SCOPES[dependency] = api_key_scope
    return dependency


def answers(*problems: tuple[int, str]) -> Callable[[F], F]:
    """Register the problems (status, code) the caller declaration ``dependency`` may answer."""

    def register(dependency: F) -> F:
        CALLER_PROBLEMS[dependency] = CALLER_PROBLEMS.get(dependency, frozenset()) | set(problems)
        return dependency

    return register


@caller
async def anonymous() -> None:
    """The route is open to anyone, signed in or not."""


PUBLIC = Depends(anonymous)
Public = Annotated[None, PUBLIC]


def endpoints(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, Dependant]]:
    """Every HTTP and WebSocket endpoint with its full path and its resolved dependencies."""
    for context in iter_route_contexts(routes):
        dependant = getattr(context, "dependant", None)
        if isinstance(dependant, Dependant):
            yield str(context.path_format), dependant


def declared_callers(dependant: Dependant) -> set[Callable[..., Any]]:
    found: set[Callable[..., Any]] = set()

    def walk(dependant: Dependant) -> None:
        if dependant.call in CALLER_DEPENDENCIES:
            found.add(dependant.call)
        for sub in dependant.dependencies:
            walk(sub)

    walk(dependant)
    return found


def api_key_scope(dependant: Dependant) -> str | None:
    """The scope an API key needs on this route, or None where no key is accepted."""
    scopes = {
        API_KEY_SCOPES[call] for call in declared_callers(dependant) if call in API_KEY_SCOPES
    }
    assert len(scopes) <= 1, f"a route declares several API key scopes: {sorted(scopes)}"
    return scopes.pop() if scopes else None


def caller_problems(dependant: Dependant) -> set[tuple[int, str]]:
    """The problems the callers a route declares may answer, before the route itself runs."""
    found: set[tuple[int, str]] = set()
    for dependency in declared_callers(dependant):
        found |= CALLER_PROBLEMS.get(dependency, frozenset())
    return found
