"""In-process hooks: how a domain lets the domains above it act inside its transaction without
importing them.

A domain declares a hook for something that happens in it (``BOOKED: Hook[Booked]`` in
``scheduling/hooks.py``) and fires it where it happens, with the session of its transaction. A
domain above it subscribes at import, in its ``subscriptions.py``, listed in
``registry.HOOK_SUBSCRIPTION_MODULES``; the first firing in a process imports those modules, so
every subscriber is there whichever modules the process loaded before.

Subscribers run one after the other in the firing transaction: what they write commits or rolls
back with it, and an exception reaches the code that fired, as if it had made the call itself.
Real-time events, which go out after the commit, are ``platform/events.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.registry import HOOK_SUBSCRIPTION_MODULES

Event = TypeVar("Event")


class Hook(Generic[Event]):
    """Something that happens in one domain, which the domains above it may act on."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: list[Callable[[AsyncSession, Event], Awaitable[None]]] = []

    def __repr__(self) -> str:
        return f"Hook({self.name!r})"

    def subscribe(
        self, subscriber: Callable[[AsyncSession, Event], Awaitable[None]]
    ) -> Callable[[AsyncSession, Event], Awaitable[None]]:
        """Run ``subscriber(db, event)`` at every firing, after those subscribed before it."""
        self._subscribers.append(subscriber)
        return subscriber

    def subscribers(self) -> tuple[Callable[[AsyncSession, Event], Awaitable[None]], ...]:
        load_subscriptions()
        return tuple(self._subscribers)

    async def fire(self, db: AsyncSession, event: Event) -> None:
        """Run every subscriber in ``db``'s transaction; the first exception stops and escapes."""
        for subscriber in self.subscribers():
            await subscriber(db, event)


@cache
def load_subscriptions() -> None:
    """Import every module that subscribes to a hook, once per process."""
    for module in HOOK_SUBSCRIPTION_MODULES:
        importlib.import_module(module)
