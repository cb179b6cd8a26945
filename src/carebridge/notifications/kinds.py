"""The kinds of notification, with the channels each uses unless the recipient says otherwise.

Domains register their kinds once, at import (``register_kind(Kind(...))``)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carebridge.accounts import hooks as accounts
from carebridge.accounts.links import EMAIL_TEMPLATES, reset_email, verification_email
from carebridge.compliance import hooks as compliance
from carebridge.notifications.models import Channel

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from carebridge.accounts.models import User
    from carebridge.config import Settings
    from carebridge.notifications.models import Notification

# Values an email template needs that may only be made at sending time (a one-time link whose
# raw token must never be stored). Runs in its own transaction just before the send.
EmailContext = Callable[
    ["AsyncSession", "Notification", "User", "Settings"], Awaitable[dict[str, Any]]
]


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    defaults: frozenset[Channel] = field(default_factory=lambda: frozenset({Channel.in_app}))
    # Security and transactional messages: the default channels cannot be switched off.
    mandatory: bool = False
    # Email templates ``<name>.txt`` and ``<name>.html`` in this folder; the generic
    # notification email when None. ``email_context`` adds values at sending time ("to" changes
    # the address).
    email_templates: Path | None = None
    email_context: EmailContext | None = None


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


@cache
def load_kinds() -> dict[str, Kind]:
    """Every registered kind, the domains' included."""
    from carebridge.platform.registry import NOTIFICATION_KIND_MODULES

    for module in NOTIFICATION_KIND_MODULES:
        importlib.import_module(module)
    return KINDS


def kind(name: str) -> Kind:
    try:
        return load_kinds()[name]
    except KeyError:
        raise KeyError(f"unknown notification kind {name!r}: register it first") from None


ACCOUNT_SECURITY = register_kind(
    Kind(
        accounts.ACCOUNT_SECURITY,
        "Security of your account (new sign-ins, password and email changes)",
        defaults=frozenset({Channel.in_app, Channel.email}),
        mandatory=True,
    )
)
# What administrators must look at (a payment that does not match its booking). Not mandatory:
# each admin chooses the channels, in-app and email by default.
ADMIN_ALERT = register_kind(
    Kind(
        "admin_alert",
        "For administrators: problems that need a person (payments that do not match)",
        defaults=frozenset({Channel.in_app, Channel.email}),
    )
)
# A patient's data export is built (compliance fires ``EXPORT_READY``).
EXPORT_READY = register_kind(
    Kind(
        compliance.EXPORT_READY_KIND,
        "Your data export is ready to download",
        defaults=frozenset({Channel.in_app, Channel.email}),
    )
)
# A detection rule raised a security alert (compliance/hooks.py ALERT_RAISED): every
# administrator is told, whatever their preferences say.
SECURITY_ALERT = register_kind(
    Kind(
        "security_alert",
        "For administrators: a detection rule raised a security alert",
        defaults=frozenset({Channel.in_app, Channel.email}),
        mandatory=True,
    )
)
# The emails of accounts' one-time links: the link is made when the email is sent.
VERIFY_EMAIL = register_kind(
    Kind(
        accounts.VERIFY_EMAIL,
        "Email address confirmation",
        defaults=frozenset({Channel.email}),
        mandatory=True,
        email_templates=EMAIL_TEMPLATES,
        email_context=verification_email,
    )
)
RESET_PASSWORD = register_kind(
    Kind(
        accounts.RESET_PASSWORD,
        "Password reset links",
        defaults=frozenset({Channel.email}),
        mandatory=True,
        email_templates=EMAIL_TEMPLATES,
        email_context=reset_email,
    )
)
