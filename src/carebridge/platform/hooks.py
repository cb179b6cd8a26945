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

A :class:`Supplied` value is the other way round a lower domain asks a higher one: something it
needs but may not import (the doctor listing's presence columns, which presence keeps), supplied
once by the domain above from the same ``subscriptions.py`` modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.registry import HOOK_SUBSCRIPTION_MODULES

Event = TypeVar("Event")
Value = TypeVar("Value")


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


class Supplied(Generic[Value]):
    """A value one domain needs and a domain above it supplies."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._value: Value | None = None

    def __repr__(self) -> str:
        return f"Supplied({self.name!r})"

    def supply(self, value: Value) -> Value:
        if self._value is not None and self._value != value:
            raise RuntimeError(f"{self.name} is supplied twice")
        self._value = value
        return value

    def get(self) -> Value:
        if self._value is None:
            load_subscriptions()
        if self._value is None:
            raise LookupError(
                f"nothing supplies {self.name}: see registry.HOOK_SUBSCRIPTION_MODULES"
            )
        return self._value


@cache
def load_subscriptions() -> None:
    """Import every module that subscribes to a hook, once per process."""
    for module in HOOK_SUBSCRIPTION_MODULES:
        importlib.import_module(module)
