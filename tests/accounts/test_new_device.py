"""A session started from a device the account has not used before sends a security email: not
on the account's first sign-in, not on a token refresh, not for a device already seen."""

from __future__ import annotations

import re
from email.message import Message

import httpx
from sqlalchemy import select

from carebridge.accounts.devices import device_of, note_sign_in
from carebridge.accounts.models import KnownDevice, User
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.platform.context import CallScope, RequestContext
from carebridge.platform.crypto import Keyring
from carebridge.platform.db import Database
from tests.factories import PASSWORD, MakeUser, work
from tests.factories.notifications import SmtpSink, plain_text
from tests.factories.web import sign_in_browser

FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
FIREFOX_NEWER = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
NEW_SIGN_IN = "New sign-in to your account"


def _sign_in_mails(sink: SmtpSink) -> list[Message]:
    return [m for m in sink.messages() if m["Subject"] == NEW_SIGN_IN]


async def _login(client: httpx.AsyncClient, email: str, agent: str) -> httpx.Response:
    answer = await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"User-Agent": agent},
    )
    assert answer.status_code == 200, answer.text
    return answer


async def test_a_new_device_is_emailed_and_a_known_one_is_not(
    client: httpx.AsyncClient,
    database: Database,
    mail_settings: Settings,
    smtp: tuple[SmtpSink, int],
    jobs: None,
) -> None:
    sink, _ = smtp
    registered = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "maria.lopez@example.org",
            "password": PASSWORD,
            "name": "Maria Lopez",
            "time_zone": "Europe/Madrid",
        },
        headers={"User-Agent": FIREFOX},
    )
    assert registered.status_code == 201, registered.text
    email = "maria.lopez@example.org"

    # The first sign-in after registering, the same device again (a newer version of its
    # browser too) and a token refresh: nothing to report.
    first = await _login(client, email, FIREFOX)
    await _login(client, email, FIREFOX)
    await _login(client, email, FIREFOX_NEWER)
    refreshed = await client.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": first.json()["refresh_token"]},
        headers={"User-Agent": IPHONE},
    )
    assert refreshed.status_code == 200, refreshed.text
    await work(mail_settings, database)
    assert _sign_in_mails(sink) == []

    # A phone never used with the account before: one email, at once.
    await _login(client, email, IPHONE)
    await work(mail_settings, database)
    (mail,) = _sign_in_mails(sink)
    assert mail["To"] == email
    text = plain_text(mail)
    assert "from Mobile Safari on iOS, iPhone (app or API) (IP address 127.0.0.1)" in text
    # The time, on the account's clock (Madrid).
    assert re.search(r"signed in to on \w{3} \d\d \w{3} \d{4}, \d\d:\d\d CES?T from ", text)
    assert "If this was you, there is nothing to do." in text
    assert f"{mail_settings.public_base_url}/account" in text  # where its sessions are
    assert f"{mail_settings.public_base_url}/forgot-password" in text
    assert "Mozilla/5.0" not in text  # a device people recognise, not the header

    # The phone again: known now.
    await _login(client, email, IPHONE)
    await work(mail_settings, database)
    assert len(_sign_in_mails(sink)) == 1

    # What is kept: one keyed hash per device, no trace of the user agent.
    async with database.sessionmaker() as db:
        user = await db.scalar(select(User).where(User.email == email))
        assert user is not None
        hashes = list(
            await db.scalars(select(KnownDevice.device_hash).where(KnownDevice.user_id == user.id))
        )
    assert len(hashes) == 2
    assert all(len(h) == 40 and b"Firefox" not in h and b"iPhone" not in h for h in hashes)


async def test_the_web_sign_in_tells_a_new_browser(
    client: httpx.AsyncClient,
    database: Database,
    make_user: MakeUser,
    mail_settings: Settings,
    smtp: tuple[SmtpSink, int],
    jobs: None,
) -> None:
    sink, _ = smtp
    user = await make_user()
    client.headers["User-Agent"] = FIREFOX
    assert (await sign_in_browser(client, user.email)).status_code == 303  # the first: silent
    client.cookies.clear()
    client.headers["User-Agent"] = CHROME_WINDOWS
    assert (await sign_in_browser(client, user.email)).status_code == 303
    await work(mail_settings, database)
    (mail,) = _sign_in_mails(sink)
    assert mail["To"] == user.email
    assert "from Chrome on Windows (web browser)" in plain_text(mail)
    async with database.sessionmaker() as db:
        (title,) = await db.scalars(
            select(Notification.title).where(
                Notification.recipient_id == user.id, Notification.kind == "account_security"
            )
        )
    assert title == NEW_SIGN_IN  # in the app too


async def test_a_device_stays_known_across_a_key_rotation(
    database: Database, settings: Settings, make_user: MakeUser
) -> None:
    user = await make_user()
    old, new = "old-key-" + "a" * 40, "new-key-" + "b" * 40
    firefox = RequestContext(ip="192.0.2.7", user_agent=FIREFOX)
    async with database.transaction() as db:
        await note_sign_in(db, CallScope(settings, Keyring(old), firefox), user, "web")
    async with database.transaction() as db:  # rotated: the old key is a previous one
        await note_sign_in(db, CallScope(settings, Keyring(new, (old,)), firefox), user, "web")
    async with database.sessionmaker() as db:
        (device,) = await db.scalars(select(KnownDevice).where(KnownDevice.user_id == user.id))
        told = await db.scalar(select(Notification.id).where(Notification.recipient_id == user.id))
    assert told is None
    assert device.device_hash.startswith(Keyring(new).current_key_id)  # hashed anew


def test_devices_are_named_as_people_know_them() -> None:
    assert device_of(FIREFOX, "web").label == "Firefox on Ubuntu (web browser)"
    assert device_of(FIREFOX, "web") == device_of(FIREFOX_NEWER, "web")
    assert device_of(FIREFOX, "web") != device_of(FIREFOX, "app")
    assert device_of("python-httpx/0.28.1", "app").label == "python-httpx (app or API)"
    assert device_of(None, "app").label == "an unknown browser or app (app or API)"
