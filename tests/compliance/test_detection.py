"""The detection rules: each fires on a burst of audit events like the ones the domains write,
and not one event below its threshold; an alert is raised once per rule, scope and window; the
job reads each final event once (running it again raises nothing), even with two runs at once;
each new alert is told to every administrator, recorded and counted in the metrics. Then the
admin API and page over the alerts.

The walk reads only events of ended transactions, so these tests commit, on a database of their
own (``fresh``)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from carebridge.accounts.models import Role, User
from carebridge.app import create_app
from carebridge.compliance.alert_models import SecurityAlert
from carebridge.compliance.detection import detect
from carebridge.compliance.final import ENDED_BELOW
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.platform.context import RequestContext
from carebridge.platform.db import Database
from tests.factories.apps import serving
from tests.factories.users import SignIn, tokens_for, user_maker
from tests.factories.web import sign_in_browser

START = datetime.now(UTC).replace(minute=5, second=0, microsecond=0) - timedelta(hours=3)
Write = Callable[..., Awaitable[None]]


@dataclass
class World:
    database: Database
    settings: Settings
    doctor: User
    admins: list[User]
    write: Write

    async def detect(self) -> int:
        await self.settle()
        return await detect(self.database, self.settings)

    async def settle(self) -> None:
        """Wait until every event written so far is final: a transaction of another database
        of the server (another test) may still be running with an older id."""
        for _ in range(600):
            async with self.database.transaction() as db:
                pending = await db.scalar(
                    select(func.count()).where(AuditEvent.xact >= ENDED_BELOW)
                )
            if not pending:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("audit events still not final after a minute")

    async def alerts(self, rule: str | None = None) -> list[SecurityAlert]:
        async with self.database.transaction() as db:
            statement = select(SecurityAlert).order_by(SecurityAlert.raised_at)
            if rule:
                statement = statement.where(SecurityAlert.rule == rule)
            return list(await db.scalars(statement))


@pytest.fixture
async def world(fresh: Database, settings: Settings) -> World:
    make = user_maker(fresh)
    doctor = await make(Role.doctor)
    admins = [await make(Role.admin) for _ in range(2)]

    async def write(rows: list[dict[str, Any]]) -> None:
        """Audit rows as the domains write them (``compliance.service.record``), committed."""
        async with fresh.transaction() as db:
            for row in rows:
                at = row.pop("at")
                event = await record(db, **row)
                event.at = at

    return World(fresh, settings, doctor, admins, write)


def reads(doctor: User, patients: int, *, basis: str = "grant", at: datetime = START) -> list[Any]:
    """A clinician's record reads of ``patients`` different patients, a minute apart."""
    return [
        {
            "action": "record.read",
            "outcome": "success",
            "actor_id": doctor.id,
            "actor_role": "doctor",
            "resource_type": "patient_record",
            "resource_id": patient,
            "subject_id": patient,
            "at": at + timedelta(seconds=50 * n),
            "basis": basis,
            "section": "observations",
        }
        for n, patient in enumerate(uuid.uuid4() for _ in range(patients))
    ]


def refused(doctor: User, patients: int, *, at: datetime) -> list[Any]:
    return [{**row, "outcome": "denied", "basis": None} for row in reads(doctor, patients, at=at)]


def failed_signins(ip: str, failures: int, accounts: int, *, at: datetime = START) -> list[Any]:
    ids = [uuid.uuid4() for _ in range(accounts)]
    return [
        {
            "action": "auth.login",
            "outcome": "failure",
            "actor_id": ids[n % accounts],
            "actor_role": "patient",
            "resource_type": "user",
            "resource_id": ids[n % accounts],
            "context": RequestContext(ip=ip, user_agent="probe", request_id=None),
            "at": at + timedelta(seconds=30 * n),
            "reason": "wrong_password",
        }
        for n in range(failures)
    ]


class TestRecordSnooping:
    async def test_fires_above_the_threshold_and_not_at_it(self, world: World) -> None:
        limit = world.settings.alert_record_patients
        await world.write(reads(world.doctor, limit))
        assert await world.detect() == 0
        # Reads with a care relationship do not count, whatever their number.
        await world.write(reads(world.doctor, limit * 2, basis="care", at=START + timedelta(1)))
        assert await world.detect() == 0
        # One more patient than allowed within the hour.
        await world.write(reads(world.doctor, 1, at=START + timedelta(minutes=30)))
        assert await world.detect() == 1
        [alert] = await world.alerts("record_snooping")
        assert alert.actor_id == world.doctor.id
        assert alert.details == {"patients": limit + 1, "threshold": limit}
        assert alert.window_start == START.replace(minute=0)
        assert alert.window_end - alert.window_start == timedelta(hours=1)

    async def test_refused_attempts_count(self, world: World) -> None:
        limit = world.settings.alert_record_patients
        await world.write(reads(world.doctor, limit // 2, at=START))
        await world.write(refused(world.doctor, limit - limit // 2 + 1, at=START))
        assert await world.detect() == 1

    async def test_reads_spread_over_hours_do_not_fire(self, world: World) -> None:
        limit = world.settings.alert_record_patients
        for hour in range(3):
            await world.write(reads(world.doctor, limit, at=START + timedelta(hours=hour, days=-1)))
        assert await world.detect() == 0


class TestBreakTheGlass:
    async def test_every_opening_fires(self, world: World) -> None:
        patients = [uuid.uuid4(), uuid.uuid4()]
        await world.write(
            [
                {
                    "action": "record.emergency_access",
                    "actor_id": world.doctor.id,
                    "actor_role": "doctor",
                    "resource_type": "patient_record",
                    "resource_id": patient,
                    "subject_id": patient,
                    "at": START + timedelta(minutes=n),
                    "basis": "emergency",
                    "object_id": str(uuid.uuid4()),
                }
                for n, patient in enumerate(patients)
            ]
        )
        assert await world.detect() == 2
        alerts = await world.alerts("break_the_glass")
        assert {a.subject_id for a in alerts} == set(patients)
        assert {a.severity for a in alerts} == {"high"}


class TestFailedSignins:
    async def test_fires_across_accounts_from_one_address(self, world: World) -> None:
        many = world.settings.alert_failed_signins
        accounts = world.settings.alert_failed_signin_accounts
        await world.write(failed_signins("203.0.113.7", many - 1, accounts))  # one too few
        await world.write(
            failed_signins("203.0.113.8", many * 2, accounts - 1)
        )  # one account short
        assert await world.detect() == 0
        await world.write(failed_signins("203.0.113.7", 1, 1, at=START + timedelta(minutes=20)))
        assert await world.detect() == 1
        [alert] = await world.alerts("failed_signins")
        assert alert.ip == "203.0.113.7"
        assert alert.details["failures"] == many
        assert alert.details["accounts"] >= accounts


class TestBulkExport:
    async def test_a_large_audit_export_or_an_admin_patient_export(self, world: World) -> None:
        admin = world.admins[0]
        over = world.settings.alert_export_rows
        exported = {
            "action": "audit.exported",
            "actor_id": admin.id,
            "actor_role": "admin",
            "resource_type": "audit_trail",
            "filters": {},
        }
        await world.write([{**exported, "at": START, "count": over}])
        patient = uuid.uuid4()
        asked = {"action": "export.requested", "resource_type": "data_export", "at": START}
        await world.write([{**asked, "actor_id": patient, "actor_role": "patient"}])
        assert await world.detect() == 0
        await world.write([{**exported, "at": START + timedelta(hours=1), "count": over + 1}])
        await world.write(
            [
                {
                    **asked,
                    "actor_id": world.admins[1].id,
                    "actor_role": "admin",
                    "subject_id": patient,
                    "on_behalf": True,
                }
            ]
        )
        assert await world.detect() == 2
        alerts = await world.alerts("bulk_export")
        assert {a.actor_id for a in alerts} == {admin.id, world.admins[1].id}


class TestTheWalk:
    async def test_an_alert_is_raised_once_and_told_recorded_counted(
        self, world: World, settings: Settings
    ) -> None:
        limit = world.settings.alert_record_patients
        await world.write(reads(world.doctor, limit + 1))
        assert await world.detect() == 1
        assert await world.detect() == 0  # idempotent: nothing new read
        # More of the same in the same hour: the same alert (deduplicated), none new.
        await world.write(reads(world.doctor, limit + 5, at=START + timedelta(minutes=1)))
        assert await world.detect() == 0
        [alert] = await world.alerts()
        async with world.database.transaction() as db:
            told = list(
                await db.scalars(select(Notification).where(Notification.kind == "security_alert"))
            )
            recorded = list(
                await db.scalars(
                    select(AuditEvent).where(AuditEvent.action == "security.alert_raised")
                )
            )
        assert sorted(n.recipient_id for n in told) == sorted(a.id for a in world.admins)
        assert all(n.data["alert_id"] == str(alert.id) for n in told)
        assert [r.resource_id for r in recorded] == [str(alert.id)]
        assert recorded[0].details["rule"] == "record_snooping"
        app = create_app(settings, database=world.database)
        async with serving(app) as client:
            metrics = (await client.get("/metrics")).text
        assert 'carebridge_security_alerts_raised{rule="record_snooping"} 1.0' in metrics
        assert 'carebridge_security_alerts_open{rule="record_snooping"} 1.0' in metrics

    async def test_two_runs_at_once_read_each_event_once(self, world: World) -> None:
        limit = world.settings.alert_record_patients
        for n in range(3):
            doctor = await user_maker(world.database)(Role.doctor)
            await world.write(reads(doctor, limit + 1, at=START + timedelta(minutes=n)))
        raised = await asyncio.gather(world.detect(), world.detect())
        assert sum(raised) == 3
        assert len(await world.alerts("record_snooping")) == 3
        async with world.database.transaction() as db:
            recorded = await db.scalar(
                select(func.count()).where(AuditEvent.action == "security.alert_raised")
            )
        assert recorded == 3

    async def test_a_late_commit_is_not_skipped(self, world: World) -> None:
        """An event written by a transaction still open when the walk runs is read by a later
        run: the walk takes final events only."""
        patient = uuid.uuid4()
        async with world.database.transaction() as db:
            await record(
                db,
                action="record.emergency_access",
                actor_id=world.doctor.id,
                actor_role="doctor",
                resource_type="patient_record",
                resource_id=patient,
                subject_id=patient,
            )
            await db.flush()
            # Meanwhile, another transaction commits an event after this one's.
            await world.write(
                [
                    {
                        "action": "probe.after",
                        "resource_type": "probe",
                        "at": datetime.now(UTC),
                    }
                ]
            )
            assert await detect(world.database, world.settings) == 0
        assert await world.detect() == 1


API = "/api/v1/admin/security-alerts"


@pytest.fixture
async def raised(world: World) -> list[SecurityAlert]:
    limit = world.settings.alert_record_patients
    await world.write(reads(world.doctor, limit + 1))
    await world.write(failed_signins("198.51.100.4", 25, 6))
    assert await world.detect() == 2
    return await world.alerts()


class TestTheApi:
    async def test_refused_callers(self, client: httpx.AsyncClient, sign_in: SignIn) -> None:
        ack = f"{API}/{uuid.uuid4()}/acknowledge"
        assert (await client.get(API)).status_code == 401
        assert (await client.post(ack)).status_code == 401
        for role in (Role.patient, Role.doctor, Role.nurse):
            me = await sign_in(role)
            assert (await client.get(API, headers=me.headers)).status_code == 403
            assert (await client.post(ack, headers=me.headers)).status_code == 403
        admin = await sign_in(Role.admin)
        assert (await client.post(ack, headers=admin.headers)).status_code == 404

    async def test_list_filter_acknowledge(
        self, world: World, settings: Settings, raised: list[SecurityAlert]
    ) -> None:
        app = create_app(settings, database=world.database)
        async with serving(app) as client:
            admin = world.admins[0]
            headers = await tokens_for(world.database, settings)(admin)
            everything = (await client.get(API, headers=headers)).json()["items"]
            assert {a["rule"] for a in everything} == {"record_snooping", "failed_signins"}
            snooping = await client.get(API, headers=headers, params={"rule": "record_snooping"})
            [alert] = snooping.json()["items"]
            assert alert["actor_email"] == world.doctor.email
            acked = await client.post(f"{API}/{alert['id']}/acknowledge", headers=headers)
            assert acked.status_code == 200
            assert acked.json()["acknowledged_by"] == str(admin.id)
            again = await client.post(f"{API}/{alert['id']}/acknowledge", headers=headers)
            assert again.json()["acknowledged_at"] == acked.json()["acknowledged_at"]
            open_ = (await client.get(API, headers=headers, params={"state": "open"})).json()
            assert "items" in open_, open_
            assert [a["rule"] for a in open_["items"]] == ["failed_signins"]
            done = await client.get(API, headers=headers, params={"state": "acknowledged"})
            assert done.status_code == 200, done.text
            assert [a["id"] for a in done.json()["items"]] == [alert["id"]]
            paged = (await client.get(API, headers=headers, params={"limit": 1})).json()
            assert len(paged["items"]) == 1
            assert paged["next_cursor"]
            bad = await client.get(API, headers=headers, params={"rule": "nope"})
            assert bad.status_code == 422

    async def test_the_page(
        self, world: World, settings: Settings, raised: list[SecurityAlert]
    ) -> None:
        app = create_app(settings, database=world.database)
        async with serving(app) as client:
            await sign_in_browser(client, world.admins[0].email)
            page = await client.get("/admin/security-alerts", params={"state": "open"})
            assert page.status_code == 200
            assert page.text.count('class="alert-') == 2
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token
            target = next(a for a in raised if a.rule == "failed_signins")
            acked = await client.post(
                f"/admin/security-alerts/{target.id}/acknowledge",
                data={"csrf_token": token.group(1)},
            )
            assert acked.status_code == 303
            page = await client.get("/admin/security-alerts", params={"state": "open"})
            assert page.text.count('class="alert-') == 1
            assert "198.51.100.4" not in page.text
