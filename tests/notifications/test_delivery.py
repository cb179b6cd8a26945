"""Email delivery through a real local SMTP server, retries and dead letters; the inbox API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from carebridge.config import Settings
from carebridge.notifications.delivery import due_deliveries
from carebridge.notifications.models import Channel, Delivery, DeliveryStatus
from carebridge.notifications.service import notify
from carebridge.platform.db import Database
from tests.factories import MakeUser, SignIn, wait_until, work
from tests.factories.notifications import SmtpSink, queued


async def email_delivery(database: Database, notification_id: uuid.UUID) -> Delivery:
    async with database.sessionmaker() as db:
        row = await db.scalar(
            select(Delivery).where(
                Delivery.notification_id == notification_id, Delivery.channel == Channel.email
            )
        )
        assert row is not None
        return row


async def test_email_arrives_with_text_html_and_link(
    database: Database,
    make_user: MakeUser,
    mail_settings: Settings,
    smtp: tuple[SmtpSink, int],
    jobs: None,
) -> None:
    sink, _ = smtp
    user = await make_user()
    async with database.transaction() as db:
        notification_id = await notify(
            db,
            user.id,
            "review_received",
            "Your results are ready",
            "Dr Rivera shared your lab results.",
            link="/records/1",
        )
    assert notification_id is not None
    await work(mail_settings, database)
    (message,) = sink.messages()
    assert message["To"] == user.email
    assert message["Subject"] == "Your results are ready"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for part in message.walk()
        if not part.is_multipart()
    }
    assert "Dr Rivera shared your lab results." in parts["text/plain"]
    assert f"{mail_settings.public_base_url}/records/1" in parts["text/plain"]
    assert f'href="{mail_settings.public_base_url}/records/1"' in parts["text/html"]
    row = await email_delivery(database, notification_id)
    assert (row.status, row.attempts) == (DeliveryStatus.sent, 1)
    assert row.provider_message_id == message["Message-ID"]
    await work(mail_settings, database)  # a sent row is never sent again
    assert len(sink.received) == 1


async def test_a_busy_server_is_retried_until_it_accepts(
    database: Database,
    make_user: MakeUser,
    mail_settings: Settings,
    smtp: tuple[SmtpSink, int],
    jobs: None,
) -> None:
    sink, _ = smtp
    sink.replies = ["451 4.3.0 Try again later"]
    user = await make_user()
    async with database.transaction() as db:
        notification_id = await notify(db, user.id, "review_received", "Reminder", "Tomorrow 9:00")
    assert notification_id is not None
    await work(mail_settings, database)
    row = await email_delivery(database, notification_id)
    assert (row.status, row.attempts) == (DeliveryStatus.failed, 1)
    assert "451" in (row.last_error or "")
    assert row.next_attempt_at is not None
    await wait_until(row.next_attempt_at)
    await work(mail_settings, database)  # the retry job scheduled at the backoff
    row = await email_delivery(database, notification_id)
    assert (row.status, row.attempts) == (DeliveryStatus.sent, 2)
    assert len(sink.received) == 1


async def test_a_refusing_server_makes_the_delivery_dead(
    database: Database,
    make_user: MakeUser,
    mail_settings: Settings,
    smtp: tuple[SmtpSink, int],
    jobs: None,
) -> None:
    sink, _ = smtp
    sink.always = "550 5.1.1 No such user"
    user = await make_user()
    async with database.transaction() as db:
        notification_id = await notify(db, user.id, "review_received", "Hello", "World")
    assert notification_id is not None
    await work(mail_settings, database)
    row = await email_delivery(database, notification_id)
    assert (row.status, row.attempts) == (DeliveryStatus.dead, 1)  # permanent: no retry
    assert "550" in (row.last_error or "")


async def test_temporary_failures_end_dead_after_the_configured_attempts(
    database: Database,
    make_user: MakeUser,
    mail_settings: Settings,
    smtp: tuple[SmtpSink, int],
    jobs: None,
) -> None:
    sink, _ = smtp
    sink.always = "451 4.3.0 Busy"
    user = await make_user()
    async with database.transaction() as db:
        notification_id = await notify(db, user.id, "review_received", "Hello", "World")
    assert notification_id is not None
    for _ in range(mail_settings.notification_max_attempts):
        await work(mail_settings, database)
        row = await email_delivery(database, notification_id)
        if row.next_attempt_at is not None:
            await wait_until(row.next_attempt_at)
    row = await email_delivery(database, notification_id)
    assert (row.status, row.attempts) == (DeliveryStatus.dead, 3)


async def test_rows_left_sending_by_a_dead_worker_are_swept_back(
    database: Database, make_user: MakeUser, settings: Settings, jobs: None
) -> None:
    user = await make_user()
    async with database.transaction() as db:
        notification_id = await notify(db, user.id, "review_received", "Hello", "World")
    assert notification_id is not None
    async with database.transaction() as db:
        await db.execute(
            update(Delivery)
            .where(Delivery.notification_id == notification_id, Delivery.channel == Channel.email)
            .values(
                status=DeliveryStatus.sending,
                attempts=1,
                updated_at=datetime.now(UTC) - timedelta(minutes=10),
            )
        )
    due = await due_deliveries(database, settings)
    row = await email_delivery(database, notification_id)
    assert row.id in due
    assert row.status == DeliveryStatus.pending


async def test_inbox_api(
    client: httpx.AsyncClient, database: Database, sign_in: SignIn, jobs: None
) -> None:
    me = await sign_in()
    other = await sign_in()
    async with database.transaction() as db:
        ids = [await notify(db, me.user_id, "review_received", f"N{i}", "B") for i in range(3)]
        theirs = await notify(db, other.user_id, "review_received", "Private", "B")
    count = await client.get("/api/v1/notifications/unread-count", headers=me.headers)
    assert count.json() == {"unread": 3}
    page = (
        await client.get("/api/v1/notifications", params={"limit": 2}, headers=me.headers)
    ).json()
    assert len(page["items"]) == 2
    rest = (
        await client.get(
            "/api/v1/notifications", params={"cursor": page["next_cursor"]}, headers=me.headers
        )
    ).json()
    assert rest["next_cursor"] is None
    # Every one once and none of the other user's (rows made in one transaction share a time;
    # the id breaks the tie, so the order among them is stable but not the creation order).
    assert sorted(n["title"] for n in page["items"] + rest["items"]) == ["N0", "N1", "N2"]
    assert (
        await client.post(f"/api/v1/notifications/{theirs}/read", headers=me.headers)
    ).status_code == 404
    read = await client.post(f"/api/v1/notifications/{ids[0]}/read", headers=me.headers)
    assert read.json()["read_at"] is not None
    unread = (
        await client.get("/api/v1/notifications", params={"unread": "true"}, headers=me.headers)
    ).json()
    assert len(unread["items"]) == 2
    assert (await client.post("/api/v1/notifications/read-all", headers=me.headers)).json() == {
        "marked": 2
    }
    assert (await client.get("/api/v1/notifications/unread-count", headers=me.headers)).json() == {
        "unread": 0
    }
    assert (await client.get("/api/v1/notifications/unread-count")).status_code == 401


async def test_admin_sees_deliveries_and_retries_a_dead_one(
    client: httpx.AsyncClient, database: Database, sign_in: SignIn, jobs: None
) -> None:
    from carebridge.accounts.models import Role

    admin = await sign_in(Role.admin)
    patient = await sign_in()
    async with database.transaction() as db:
        notification_id = await notify(db, patient.user_id, "review_received", "Hello", "World")
        await db.execute(
            update(Delivery)
            .where(Delivery.notification_id == notification_id, Delivery.channel == Channel.email)
            .values(status=DeliveryStatus.dead, attempts=6, last_error="550")
        )
    assert (
        await client.get("/api/v1/admin/deliveries", headers=patient.headers)
    ).status_code == 403
    dead = (
        await client.get(
            "/api/v1/admin/deliveries",
            params={"status": "dead", "channel": "email", "kind": "review_received"},
            headers=admin.headers,
        )
    ).json()["items"]
    target = next(d for d in dead if d["notification_id"] == str(notification_id))
    before = await queued()
    retried = await client.post(
        f"/api/v1/admin/deliveries/{target['id']}/retry", headers=admin.headers
    )
    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
    assert await queued() == before + 1
    again = await client.post(
        f"/api/v1/admin/deliveries/{target['id']}/retry", headers=admin.headers
    )
    assert (again.status_code, again.json()["code"]) == (409, "not_dead")


async def test_metrics_show_deliveries_attempts_and_lag(
    client: httpx.AsyncClient, database: Database, make_user: MakeUser, jobs: None
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    user = await make_user()
    async with database.transaction() as db:
        notification_id = await notify(db, user.id, "review_received", "Hello", "World")
        await db.execute(
            update(Delivery)
            .where(Delivery.notification_id == notification_id, Delivery.channel == Channel.email)
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=30))
        )
    text = (await client.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert (
        samples[
            ("carebridge_notification_deliveries", (("channel", "email"), ("status", "pending")))
        ]
        >= 1
    )
    assert (
        samples[("carebridge_notification_deliveries", (("channel", "in_app"), ("status", "sent")))]
        >= 1
    )
    assert samples[("carebridge_notification_queue_lag_seconds", (("channel", "email"),))] >= 29
    assert ("carebridge_notification_delivery_attempts", (("channel", "email"),)) in samples


def test_non_ascii_subjects_are_encoded(settings: Settings) -> None:
    import email
    from email.header import decode_header, make_header

    from carebridge.platform.mail import compose

    message = compose(
        settings, to="a@example.org", subject="Résultats prêts", text="é", html="<p>é</p>"
    )
    parsed = email.message_from_bytes(message.as_bytes())
    assert str(make_header(decode_header(parsed["Subject"]))) == "Résultats prêts"
