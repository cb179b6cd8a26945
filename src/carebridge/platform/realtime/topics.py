"""What domains tell the gateway: which topics a caller may read (and their snapshots), what to
do when a connection opens or closes, and which sessions are still live.

A topic pattern is either exact (``doctors.presence``) or a prefix ending with a dot
(``user.``, ``conversation.``). A topic with no rule cannot be subscribed to.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from carebridge.config import Settings
    from carebridge.platform.db import Database


@dataclass(frozen=True)
class Identity:
    """Who holds a socket: fixed when the ticket is redeemed."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str


@dataclass(frozen=True)
class GatewayContext:
    settings: Settings
    database: Database
    process_id: str


Authorize = Callable[[AsyncSession, Identity, str], Awaitable[bool]]
Snapshot = Callable[[AsyncSession, Identity, str], Awaitable[dict[str, Any]]]
ConnectionHook = Callable[[GatewayContext, Identity, uuid.UUID], Awaitable[None]]
TickHook = Callable[[GatewayContext], Awaitable[None]]
LiveSessions = Callable[[AsyncSession, Collection[uuid.UUID]], Awaitable[set[uuid.UUID]]]


@dataclass(frozen=True)
class TopicRule:
    pattern: str
    authorize: Authorize
    snapshot: Snapshot | None = None

    def matches(self, topic: str) -> bool:
        if self.pattern.endswith("."):
            return topic.startswith(self.pattern) and len(topic) > len(self.pattern)
        return topic == self.pattern


@dataclass
class Hooks:
    rules: list[TopicRule]
    opened: list[ConnectionHook]
    closed: list[ConnectionHook]
    ticks: list[TickHook]
    live_sessions: LiveSessions | None = None


HOOKS = Hooks(rules=[], opened=[], closed=[], ticks=[])


def register_topic(pattern: str, authorize: Authorize, snapshot: Snapshot | None = None) -> None:
    HOOKS.rules[:] = [rule for rule in HOOKS.rules if rule.pattern != pattern]
    HOOKS.rules.append(TopicRule(pattern, authorize, snapshot))


def on_open(hook: ConnectionHook) -> ConnectionHook:
    if hook not in HOOKS.opened:
        HOOKS.opened.append(hook)
    return hook


def on_close(hook: ConnectionHook) -> ConnectionHook:
    if hook not in HOOKS.closed:
        HOOKS.closed.append(hook)
    return hook


def on_tick(hook: TickHook) -> TickHook:
    if hook not in HOOKS.ticks:
        HOOKS.ticks.append(hook)
    return hook


def check_sessions_with(live_sessions: LiveSessions) -> None:
    HOOKS.live_sessions = live_sessions


def rule_for(topic: str) -> TopicRule | None:
    return next((rule for rule in HOOKS.rules if rule.matches(topic)), None)
