"""A worker killed (SIGKILL) in the middle of 1,000 emails loses none of them."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import delete, func, select

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.notifications.models import Channel, Delivery, DeliveryStatus, Notification
from carebridge.notifications.service import notify_many
from carebridge.notifications.tasks import sweep_task
from carebridge.platform.db import Database
from tests.factories.notifications import SmtpSink
from tests.helpers import kill, start_worker, worker_env

COUNT = 1000


def start_mail_worker(settings: Settings, smtp_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = worker_env(
        settings,
        CAREBRIDGE_MAIL_TRANSPORT="smtp",
        CAREBRIDGE_SMTP_HOST="127.0.0.1",
        CAREBRIDGE_SMTP_PORT=str(smtp_port),
        CAREBRIDGE_SMTP_SECURITY="none",
        CAREBRIDGE_EMAIL_RATE_LIMIT="100000/second",
        CAREBRIDGE_NOTIFICATION_SENDING_TIMEOUT_SECONDS="10",
    )
    return start_worker(env, log, ["notifications"])


async def email_statuses(database: Database, ids: list[uuid.UUID]) -> Counter[str]:
    async with database.sessionmaker() as db:
        rows = await db.execute(
            select(Delivery.status, func.count())
            .join(Notification, Notification.id == Delivery.notification_id)
            .where(Notification.recipient_id.in_(ids), Delivery.channel == Channel.email)
            .group_by(Delivery.status)
        )
        return Counter(dict(rows.all()))


async def test_killing_a_worker_mid_delivery_loses_nothing(
    settings: Settings, smtp: tuple[SmtpSink, int], client: httpx.AsyncClient, tmp_path: Path
) -> None:
    sink, port = smtp
    database = Database.from_settings(settings)  # committed data: the workers are other processes
    tag = uuid.uuid4().hex[:6]
    async with database.transaction() as db:
        users = [
            User(
                email=f"crash-{tag}-{i}@example.org",
                name=f"P{i}",
                role=Role.patient,
                status=UserStatus.active,
                password_hash="x",
            )
            for i in range(COUNT)
        ]
        db.add_all(users)
        await db.flush()
        ids = [u.id for u in users]
    log = tmp_path / "workers.log"
    worker = start_mail_worker(settings, port, log)
    try:
        async with database.transaction() as db:
            await notify_many(db, ids, "review_received", "Clinic update", "New opening hours.")
        deadline = time.monotonic() + 60
        while len(sink.received) < COUNT // 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        killed_at = len(sink.received)
        kill(worker)
        assert 0 < killed_at < COUNT, log.read_text()[-2000:]

        worker = start_mail_worker(settings, port, log)
        await asyncio.sleep(11)  # the sending timeout: rows the dead worker held are now stale
        await sweep_task.defer_async(timestamp=int(time.time()))  # as the minutely schedule does
        deadline = time.monotonic() + 90
        statuses = await email_statuses(database, ids)
        while statuses[DeliveryStatus.sent] < COUNT and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            statuses = await email_statuses(database, ids)
        assert statuses == Counter({DeliveryStatus.sent: COUNT}), (
            statuses,
            log.read_text()[-2000:],
        )

        per_recipient = Counter(to for e in sink.received for to in e.rcpt_tos)
        mine = {f"crash-{tag}-{i}@example.org" for i in range(COUNT)}
        assert mine <= set(per_recipient)  # every one delivered
        duplicates = sum(n - 1 for to, n in per_recipient.items() if to in mine)
        # At-least-once: only a message that was on the wire when the worker died can go twice.
        assert duplicates <= 4, duplicates
        print(f"killed after {killed_at} emails; {COUNT} delivered; {duplicates} duplicates")
    finally:
        kill(worker)
        async with database.transaction() as db:
            await db.execute(delete(User).where(User.id.in_(ids)))
        await database.dispose()
