"""What domains tell the gateway: which topics a caller may read (and their snapshots), what to
do when a connection opens or closes, and which sessions are still live.

A topic pattern is either exact (``doctors.presence``) or a prefix ending with a dot
(``user.``, ``conversation.``). A topic with no rule cannot be subscribed to.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.errors import Invalid

if TYPE_CHECKING:
    from carebridge.config import Settings
    from carebridge.platform.crypto import Keyring
    from carebridge.platform.db import Database


@dataclass(frozen=True)
class Identity:
    """Who holds a socket: fixed when the ticket is redeemed."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    status: str  # the account's, when the ticket was redeemed (a disabled one's sessions end)


@dataclass(frozen=True)
class GatewayContext:
    settings: Settings
    database: Database
    process_id: str

    @cached_property
    def keyring(self) -> Keyring:
        """The process's keyring (``Runtime.keyring`` is this one), made on first use: domains
        open sealed values with it in replays and client actions."""
        from carebridge.platform.crypto import Keyring

        return Keyring.from_settings(self.settings)


Authorize = Callable[[AsyncSession, Identity, str], Awaitable[bool]]
Snapshot = Callable[[AsyncSession, Identity, str], Awaitable[dict[str, Any]]]
ConnectionHook = Callable[[GatewayContext, Identity, uuid.UUID], Awaitable[None]]
TickHook = Callable[[GatewayContext], Awaitable[None]]
# A replay: the events of a topic after the client's cursor, read from the database (oldest
# first), each a (event name, data) pair whose data holds the cursor as ``seq``.
# Called with (context, session, identity, topic, after, limit).
ReplayRead = Callable[
    [GatewayContext, AsyncSession, Identity, str, int, int],
    Awaitable[list[tuple[str, dict[str, Any]]]],
]
# A client action: a frame of a type a domain handles (``send``, ``typing``, ...), run with the
# caller's identity; it answers the fields of the ``ack`` frame, or raises a CareBridgeError.
Action = Callable[[GatewayContext, Identity, dict[str, Any]], Awaitable[dict[str, Any]]]
LiveSessions = Callable[[AsyncSession, Collection[uuid.UUID]], Awaitable[set[uuid.UUID]]]


@dataclass(frozen=True)
class TopicRule:
    pattern: str
    authorize: Authorize
    snapshot: Snapshot | None = None
    replay: Replay | None = None

    def matches(self, topic: str) -> bool:
        if self.pattern.endswith("."):
            return topic.startswith(self.pattern) and len(topic) > len(self.pattern)
        return topic == self.pattern


@dataclass(frozen=True)
class Replay:
    """How a topic catches a client up: ``read`` returns the events after a cursor (oldest
    first, at most ``limit``); those named ``event`` carry the cursor as ``data["seq"]``, and a
    live event of that name at or below the last one replayed is the same event, not sent
    twice."""

    read: ReplayRead
    event: str
    limit: int = 1000


@dataclass
class Hooks:
    rules: list[TopicRule]
    opened: list[ConnectionHook]
    closed: list[ConnectionHook]
    ticks: list[TickHook]
    live_sessions: LiveSessions | None = None
    actions: dict[str, Action] = field(default_factory=dict)


HOOKS = Hooks(rules=[], opened=[], closed=[], ticks=[])
# Where the gateway puts its context in the session of a subscribe (``context_of``).
CONTEXT_KEY = "carebridge.gateway_context"
# The gateway's own client frames: a domain cannot take these types.
GATEWAY_TYPES = frozenset({"subscribe", "unsubscribe", "ping", "pong"})


def register_topic(
    pattern: str,
    authorize: Authorize,
    snapshot: Snapshot | None = None,
    replay: Replay | None = None,
) -> None:
    HOOKS.rules[:] = [rule for rule in HOOKS.rules if rule.pattern != pattern]
    HOOKS.rules.append(TopicRule(pattern, authorize, snapshot, replay))


def register_action(kind: str, action: Action) -> None:
    """Route client frames of type ``kind`` to ``action``."""
    if kind in GATEWAY_TYPES:
        raise ValueError(f"{kind!r} is a frame type of the gateway itself")
    HOOKS.actions[kind] = action


M = TypeVar("M", bound=BaseModel)


def parse_action(model: type[M], frame: dict[str, Any]) -> M:
    """A client action's fields (all but ``type`` and ``id``) as ``model``; ``bad_frame``
    saying what was wrong otherwise."""
    fields = {k: v for k, v in frame.items() if k not in ("type", "id")}
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise Invalid(problems, code="bad_frame") from exc


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


def context_of(db: AsyncSession) -> GatewayContext:
    """The gateway's context (settings, keyring) in a topic's ``authorize`` or ``snapshot``,
    which are called with the subscribe's session only."""
    context = db.info.get(CONTEXT_KEY)
    assert isinstance(context, GatewayContext), "called outside a subscribe"
    return context


def rule_for(topic: str) -> TopicRule | None:
    return next((rule for rule in HOOKS.rules if rule.matches(topic)), None)
