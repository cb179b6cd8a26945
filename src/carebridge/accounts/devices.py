"""The devices people sign in from, remembered privately, and the security email when a session
starts from one not seen before on the account.

**A device** is what a person would recognise as "my laptop's Firefox" or "the app on my
phone": the kind of client the session is for (a web browser session, or an app's tokens), the
browser or app family, the operating system family and the device model, as ``ua-parser`` reads
them from the user agent. Versions are left out (browsers update themselves every few weeks), and
so is the IP address (it changes with every network a phone joins): either would make the email
arrive so often that people learn to ignore it. Only a keyed hash of the device is stored
(HMAC-SHA256 under the keyring's ``sign-in-device`` key), never the user agent, so a copy of the
table says nothing about what anyone uses.

**When the email goes out**: a session starts (password sign-in, the second step, a password
change that gives the device a new session; through the API or the web) from a device the
account has no record of, and the account already has a record of another one. The very first
sign-in of an account is recorded silently, and so is the first one after this feature arrived;
refreshing tokens starts no session, so it never sends one.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.hooks import ACCOUNT_SECURITY, Message, send
from carebridge.accounts.models import KnownDevice, User
from carebridge.platform.context import CallScope
from carebridge.platform.times import local_time

Client = Literal["web", "app"]
_PURPOSE = "sign-in-device"
_PRODUCT = re.compile(r"[A-Za-z][\w.-]{0,39}")
_GENERIC_MODELS = ("Other", "Generic", "Spider")


@dataclass(frozen=True)
class Device:
    client: Client
    browser: str  # "" when the user agent says nothing
    os: str
    model: str

    def fingerprint(self) -> bytes:
        return json.dumps([self.client, self.browser, self.os, self.model]).encode()

    @property
    def label(self) -> str:
        """ "Firefox on Ubuntu (web browser)", "Mobile Safari on iOS, iPhone (web browser)"."""
        name = self.browser or "an unknown browser or app"
        if self.os:
            name += f" on {self.os}"
        if self.model and not self.model.startswith(_GENERIC_MODELS):
            name += f", {self.model}"
        kind = "web browser" if self.client == "web" else "app or API"
        return f"{name} ({kind})"


def device_of(user_agent: str | None, client: Client) -> Device:
    """The device a user agent describes (slow on a process's first call: ``ua-parser`` builds
    its matchers then; see :func:`note_sign_in`)."""
    if not user_agent:
        return Device(client, "", "", "")
    from ua_parser import parse  # on first use: not needed at start-up (docs/performance.md)

    parsed = parse(user_agent[:400])
    browser = parsed.user_agent.family if parsed.user_agent else ""
    if not browser or browser == "Other":  # an app or tool: its product name, as it says it
        product = _PRODUCT.match(user_agent)
        browser = product.group(0) if product else ""
    os = parsed.os.family if parsed.os and parsed.os.family != "Other" else ""
    model = parsed.device.family if parsed.device else ""
    return Device(client, browser, os, model)


async def note_sign_in(
    db: AsyncSession,
    scope: CallScope,
    user: User,
    client: Client,
) -> None:
    """Remember the device a new session of ``user`` starts from, and tell the user by email
    (and in the app) when it is one their account has not used before, unless it is the first
    device the account has ever been seen with."""
    device = await asyncio.to_thread(device_of, scope.origin.user_agent, client)
    fingerprint = device.fingerprint()
    now = datetime.now(UTC)
    # Sign-ins of one user one at a time, so that two at once from a new device make one row
    # and one email.
    await db.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"devices:{user.id}", 0)))
    )
    known = list(await db.scalars(select(KnownDevice).where(KnownDevice.user_id == user.id)))
    keyring = scope.keyring
    for row in known:
        if keyring.keyed_hash_matches(_PURPOSE, fingerprint, row.device_hash):
            row.last_seen_at = now
            if not row.device_hash.startswith(keyring.current_key_id):  # after a key rotation
                row.device_hash = keyring.keyed_hash(_PURPOSE, fingerprint)
            return
    db.add(
        KnownDevice(
            user_id=user.id,
            device_hash=keyring.keyed_hash(_PURPOSE, fingerprint),
            last_seen_at=now,
        )
    )
    if known:
        await _tell(db, scope, user, device, now)


async def _tell(
    db: AsyncSession,
    scope: CallScope,
    user: User,
    device: Device,
    now: datetime,
) -> None:
    address = f" (IP address {scope.origin.ip})" if scope.origin.ip else ""
    message = Message(
        user.id,
        ACCOUNT_SECURITY,
        "New sign-in to your account",
        f"Your CareBridge account was signed in to on {local_time(now, user.time_zone)} from "
        f"{device.label}{address}, a device not used with your account before.\n\n"
        "If this was you, there is nothing to do.\n\n"
        'If it was not you, sign that device out on your account page, under "Where you are '
        'signed in", and change your password there. If you cannot sign in any more, reset '
        f"your password: {scope.settings.public_base_url}/forgot-password",
        data={"device": device.label},
        link="/account",
    )
    await send(db, message)
