"""The outbox: rows first, jobs after commit, dedup, preferences, quiet hours, fan-out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update

from carebridge.accounts.models import Role, User
from carebridge.notifications.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Notification,
    Priority,
)
from carebridge.notifications.service import notify, notify_many
from carebridge.platform.db import Database
from carebridge.platform.events import listen
from tests.factories import MakeUser, SignIn
from tests.factories.notifications import queued


async def deliveries(database: Database, notification_id: uuid.UUID) -> dict[str, Delivery]:
    async with database.sessionmaker() as db:
        rows = await db.scalars(select(Delivery).where(Delivery.notification_id == notification_id))
        return {row.channel: row for row in rows}


async def test_notify_writes_rows_and_defers_delivery_only_after_commit(
    database: Database, make_user: MakeUser, jobs: None
) -> None:
    user = await make_user()
    events: list[tuple[str, str]] = []

    async def on_event(topic: str, event: str, data: dict[str, object], seq: int | None) -> None:
        events.append((topic, event))

    stop = listen(on_event)
    try:
        async with database.transaction() as db:
            notification_id = await notify(
                db,
                user.id,
                "review_received",
                "Clinic closed Friday",
                "We are closed on Friday.",
                link="/notifications",
            )
            assert await queued() == 0  # nothing leaves before commit
            assert events == []
    finally:
        stop()
    assert notification_id is not None
    assert await queued() == 1
    assert events == [(f"user.{user.id}", "notification.created")]
    rows = await deliveries(database, notification_id)
    assert rows[Channel.in_app].status == DeliveryStatus.sent
    assert rows[Channel.email].status == DeliveryStatus.pending
    assert rows[Channel.sms].status == DeliveryStatus.skipped
    assert rows[Channel.push].status == DeliveryStatus.skipped


async def test_rolled_back_notification_leaves_nothing(
    database: Database, make_user: MakeUser, jobs: None
) -> None:
    user = await make_user()
    try:
        async with database.transaction() as db:
            await notify(db, user.id, "review_received", "T", "B")
            raise RuntimeError("the change that caused it failed")
    except RuntimeError:
        pass
    assert await queued() == 0
    async with database.sessionmaker() as db:
        assert (
            await db.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.recipient_id == user.id)
            )
            == 0
        )


async def test_same_dedup_key_within_the_window_creates_nothing_new(
    database: Database, make_user: MakeUser, jobs: None
) -> None:
    user = await make_user()
    async with database.transaction() as db:
        first = await notify(
            db, user.id, "review_received", "Dr X is online", "Now", dedup_key="online:x"
        )
        second = await notify(
            db, user.id, "review_received", "Dr X is online", "Now", dedup_key="online:x"
        )
    assert first is not None
    assert second is None
    async with database.transaction() as db:  # the window has passed
        await db.execute(
            update(Notification)
            .where(Notification.id == first)
            .values(created_at=datetime.now(UTC) - timedelta(hours=3))
        )
        third = await notify(
            db,
            user.id,
            "review_received",
            "Dr X is online",
            "Now",
            dedup_key="online:x",
            dedup_window=timedelta(hours=2),
        )
    assert third is not None


async def test_turned_off_channels_are_skipped_and_mandatory_ones_stay_on(
    client: httpx.AsyncClient, database: Database, sign_in: SignIn, jobs: None
) -> None:
    me = await sign_in()
    refused = await client.put(
        "/api/v1/notifications/preferences",
        headers=me.headers,
        json={"channels": {"account_security": {"email": False}}},
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "mandatory_channel")
    ok = await client.put(
        "/api/v1/notifications/preferences",
        headers=me.headers,
        json={"channels": {"review_received": {"email": False}}},
    )
    assert ok.status_code == 200
    choices = {k["kind"]: k["channels"] for k in ok.json()["kinds"]}
    assert choices["review_received"]["email"] is False
    async with database.transaction() as db:
        off = await notify(db, me.user_id, "review_received", "News", "Body")
        security = await notify(db, me.user_id, "account_security", "New sign-in", "From Firefox")
    assert off is not None
    assert security is not None
    assert (await deliveries(database, off))[Channel.email].status == DeliveryStatus.skipped
    assert (await deliveries(database, security))[Channel.email].status == DeliveryStatus.pending


async def test_quiet_hours_hold_normal_notifications_but_not_urgent_ones(
    client: httpx.AsyncClient, database: Database, sign_in: SignIn, jobs: None
) -> None:
    me = await sign_in()
    async with database.transaction() as db:
        user = await db.get(User, me.user_id)
        assert user is not None
        user.time_zone = "Asia/Tokyo"
    local_now = datetime.now(UTC) + timedelta(hours=9)
    starts = (local_now - timedelta(hours=1)).time().replace(microsecond=0)
    ends = (local_now + timedelta(hours=2)).time().replace(microsecond=0)
    response = await client.put(
        "/api/v1/notifications/preferences",
        headers=me.headers,
        json={"quiet_hours": {"starts": starts.isoformat(), "ends": ends.isoformat()}},
    )
    assert response.status_code == 200, response.text
    async with database.transaction() as db:
        normal = await notify(db, me.user_id, "review_received", "Newsletter", "Tips")
        urgent = await notify(
            db,
            me.user_id,
            "review_received",
            "Your visit moved",
            "Now 9:00",
            priority=Priority.urgent,
        )
    assert normal is not None
    assert urgent is not None
    held = (await deliveries(database, normal))[Channel.email]
    assert held.status == DeliveryStatus.pending
    assert held.next_attempt_at is not None
    expected_end = datetime.now(UTC) + timedelta(hours=2)
    assert abs((held.next_attempt_at - expected_end).total_seconds()) < 90
    assert (await deliveries(database, normal))[Channel.in_app].status == DeliveryStatus.sent
    now_due = (await deliveries(database, urgent))[Channel.email]
    assert now_due.next_attempt_at is not None
    assert now_due.next_attempt_at <= datetime.now(UTC)
    assert await queued() == 1  # only the urgent one is on its way now


async def test_fan_out_to_a_thousand_recipients_batches_rows_and_jobs(
    database: Database, make_user: MakeUser, jobs: None
) -> None:
    async with database.transaction() as db:
        users = [
            User(
                email=f"fan-{i}-{uuid.uuid4().hex[:4]}@example.org",
                name=f"P{i}",
                role=Role.patient,
                status="active",
                password_hash="x",
            )
            for i in range(1000)
        ]
        db.add_all(users)
        await db.flush()
        ids = [u.id for u in users]
    async with database.transaction() as db:
        created = await notify_many(db, ids, "review_received", "Flu shots", "Available now")
    assert len(created) == 1000
    assert await queued() == 10  # 1,000 email deliveries in jobs of 100


def test_a_worker_process_knows_every_domains_kinds() -> None:
    """A worker imports only task modules; the kinds' templates must still be found."""
    import subprocess
    import sys

    code = (
        "from carebridge.notifications.kinds import kind;"
        "print(kind('verify_email').email_templates is not None, kind('reset_password').mandatory)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "True"]
