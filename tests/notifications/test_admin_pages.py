"""The deliveries page: an administrator filters deliveries by state and channel and sends a dead
one again, through the same service as the admin API."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy import select, update

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.notifications.models import Channel, Delivery, DeliveryStatus
from carebridge.notifications.service import notify
from carebridge.platform.db import Database
from tests.factories import MakeUser
from tests.factories.web import Browser, csrf, sign_in_browser

HTML = {"accept": "text/html"}


async def dead_email(database: Database, recipient: uuid.UUID) -> Delivery:
    """A notification whose email delivery gave up (its in-app row is sent)."""
    async with database.transaction() as db:
        notification_id = await notify(db, recipient, "review_received", "Hello", "World")
        row = await db.scalar(
            update(Delivery)
            .where(Delivery.notification_id == notification_id, Delivery.channel == Channel.email)
            .values(status=DeliveryStatus.dead, attempts=6, last_error="550 mailbox unavailable")
            .returning(Delivery)
        )
    assert row is not None
    return row


def row_of(page: httpx.Response, delivery_id: uuid.UUID) -> str:
    found = re.search(rf'<tr id="delivery-{delivery_id}"[^>]*>(.*?)</tr>', page.text, re.S)
    return found.group(1) if found else ""


async def test_only_administrators(
    client: httpx.AsyncClient, make_user: MakeUser, browser: Browser
) -> None:
    anonymous = await client.get("/admin/deliveries")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/signin?next=%2Fadmin%2Fdeliveries"
    patient = await browser(await make_user(Role.patient))
    assert (await patient.get("/admin/deliveries", headers=HTML)).status_code == 403
    retry = await patient.post(
        f"/admin/deliveries/{uuid.uuid4()}/retry",
        data={"csrf_token": csrf(await patient.get("/account"))},
        headers=HTML,
    )
    assert retry.status_code == 403


async def test_an_admin_filters_and_retries_a_dead_delivery(
    client: httpx.AsyncClient, database: Database, make_user: MakeUser, jobs: None
) -> None:
    admin, patient = await make_user(Role.admin), await make_user(Role.patient)
    dead = await dead_email(database, patient.id)
    await sign_in_browser(client, admin.email)

    page = await client.get("/admin/deliveries", params={"status": "dead", "channel": "email"})
    assert page.status_code == 200
    row = row_of(page, dead.id)
    assert "review_received" in row
    assert patient.email in row
    assert "550 mailbox unavailable" in row
    assert "Retry" in row
    assert '<option value="dead" selected>' in page.text
    in_app = await client.get("/admin/deliveries", params={"status": "sent", "channel": "in_app"})
    sent_rows = re.findall(
        r'<tr id="delivery-[^"]+" class="delivery-sent">(.*?)</tr>', in_app.text, re.S
    )
    assert sent_rows
    assert not any("Retry" in r for r in sent_rows)  # only a dead delivery may be retried
    assert row_of(in_app, dead.id) == ""

    retried = await client.post(
        f"/admin/deliveries/{dead.id}/retry",
        data={"csrf_token": csrf(page), "status": "dead", "channel": "email"},
    )
    assert retried.status_code == 303
    assert retried.headers["location"] == "/admin/deliveries?status=dead&channel=email&retried=1"
    back = await client.get(retried.headers["location"])
    assert "Sent again: the delivery is waiting for its next attempt." in back.text
    assert row_of(back, dead.id) == ""  # not dead any more
    async with database.sessionmaker() as db:
        now = await db.get(Delivery, dead.id)
        assert now is not None
        assert (now.status, now.attempts) == (DeliveryStatus.pending, 0)
        audited = await db.scalar(
            select(AuditEvent.actor_id).where(
                AuditEvent.action == "admin.delivery_retried",
                AuditEvent.resource_id == str(dead.id),
            )
        )
    assert audited == admin.id

    again = await client.post(
        f"/admin/deliveries/{dead.id}/retry", data={"csrf_token": csrf(page)}, headers=HTML
    )
    assert again.status_code == 409
    assert "Only a dead delivery can be retried." in again.text


async def test_an_unknown_filter_is_explained(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in_browser(client, (await make_user(Role.admin)).email)
    page = await client.get("/admin/deliveries", params={"status": "lost"})
    assert page.status_code == 422
    assert "There is no state &#39;lost&#39;." in page.text
