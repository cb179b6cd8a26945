"""Fan-out of one event to 10,000 recipients: the time until every in-app row is written
(notify_many + commit), and the email delivery rate of one worker to a local SMTP sink.

Runs against CAREBRIDGE_DATABASE_URL, or an embedded PostgreSQL in a temporary folder.
Targets (docs/performance.md): rows in <= 2 s; >= 300 emails/s per worker.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings, load_settings
from carebridge.notifications.models import Channel, Delivery, DeliveryStatus
from carebridge.notifications.service import notify_many
from carebridge.platform.db import Database
from carebridge.platform.embedded import EmbeddedPostgres
from carebridge.platform.jobs import JobQueue, run_worker
from carebridge.platform.logging import configure_logging
from carebridge.platform.migrate import upgrade

RECIPIENTS = 10_000


async def run(settings: Settings) -> None:
    database = Database.from_settings(settings)
    await upgrade(database.engine)
    tag = uuid.uuid4().hex[:6]
    async with database.transaction() as db:
        users = [
            User(
                email=f"bench-{tag}-{i}@example.org",
                name=f"B{i}",
                role=Role.patient,
                status=UserStatus.active,
                password_hash="x",
            )
            for i in range(RECIPIENTS)
        ]
        db.add_all(users)
        await db.flush()
        ids = [u.id for u in users]

    jobs = JobQueue(settings)
    await jobs.open()
    started = time.perf_counter()
    async with database.transaction() as db:
        await notify_many(db, ids, "review_received", "Flu shots", "Available this week.")
    written = time.perf_counter() - started
    print(
        f"in-app rows for {RECIPIENTS} recipients written and committed in {written:.2f} s "
        "(jobs deferred)"
    )

    started = time.perf_counter()
    await run_worker(
        settings,
        database,
        queues=["notifications"],
        wait=False,
        install_signal_handlers=False,
        concurrency=settings.worker_concurrency,
    )
    elapsed = time.perf_counter() - started
    async with database.sessionmaker() as db:
        sent = await db.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.channel == Channel.email, Delivery.status == DeliveryStatus.sent)
        )
    print(
        f"one worker (concurrency {settings.worker_concurrency}) sent {sent} emails in "
        f"{elapsed:.1f} s: {int(sent or 0) / elapsed:.0f} emails/s"
    )
    await jobs.close()
    await database.dispose()


def main() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The SMTP sink runs in its own process, so it does not compete with the worker measured.
    sink = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    with tempfile.TemporaryDirectory() as tmp:
        base = load_settings()
        overrides = {
            "mail_transport": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "email_rate_limit": "100000/second",
            "data_dir": Path(tmp),
            "log_level": "WARNING",
        }
        embedded = None
        if base.database_url is None:
            embedded = EmbeddedPostgres(Path(tmp) / "postgres")
            overrides["database_url"] = embedded.start()
        settings = base.model_copy(update=overrides)
        configure_logging(settings)  # WARNING: the per-email info lines would be the bottleneck
        try:
            asyncio.run(run(settings))
        finally:
            if embedded is not None:
                embedded.stop()
            sink.terminate()
            sink.wait()
