"""The kinds of notification, with the channels each uses unless the recipient says otherwise.

Domains register their kinds once, at import (``register_kind(Kind(...))``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from carebridge.notifications.models import Channel


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    defaults: frozenset[Channel] = field(default_factory=lambda: frozenset({Channel.in_app}))
    # Security and transactional messages: the default channels cannot be switched off.
    mandatory: bool = False


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown notification kind {name!r}: register it first") from None


ACCOUNT_SECURITY = register_kind(
    Kind(
        "account_security",
        "Security of your account (new sign-ins, password and email changes)",
        defaults=frozenset({Channel.in_app, Channel.email}),
        mandatory=True,
    )
)
ANNOUNCEMENT = register_kind(
    Kind(
        "announcement",
        "News from your clinic",
        defaults=frozenset({Channel.in_app, Channel.email}),
    )
)
