"""The audit viewer's subject filter and CSV export, and a person's access log.

The export: only administrators; the same filters as the search; streamed; at most
``audit_export_max_rows`` rows; cells a spreadsheet would run as formulas neutralised; each
export recorded with its filters and count. The access log: others' accesses to data about me
(my record, my appointment's conversation), never my own actions nor another patient's data."""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from carebridge.accounts.models import Role, User
from carebridge.app import create_app
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.trail_csv import safe_cell
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories import MakeUser, SignIn
from tests.factories.apps import serving
from tests.factories.audit import PATIENT_OBJECTS
from tests.factories.calls import people_around
from tests.factories.directory import MakeDoctor
from tests.factories.messaging import booked_talk
from tests.factories.records import add_observation, appointment_between
from tests.factories.users import Person, TokenFor, tokens_for, user_maker
from tests.factories.web import Browser, sign_in_browser

API = "/api/v1/admin/audit-events"
CSV = "/api/v1/admin/audit-events.csv"
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
HTML = {"accept": "text/html"}


@dataclass
class Subjects:
    """Events about two patients: 12 ``probe.read`` of ``patient`` by ``doctor`` a minute apart
    from START (one with cells that look like formulas), 3 of ``other`` by the same doctor."""

    patient: User
    other: User
    doctor: User


@pytest.fixture
async def subjects(database: Database, make_user: MakeUser) -> Subjects:
    patient, other = await make_user(Role.patient), await make_user(Role.patient)
    doctor = await make_user(Role.doctor)

    def event(n: int, subject: User, **extra: Any) -> AuditEvent:
        return AuditEvent(
            at=START + timedelta(minutes=n),
            actor_id=doctor.id,
            actor_role="doctor",
            action="probe.read",
            resource_type="probe_object",
            resource_id=str(uuid.uuid4()),
            subject_id=subject.id,
            outcome="success",
            details={"n": n},
            **extra,
        )

    rows = [event(n, patient) for n in range(12)]
    rows[5].user_agent = '=HYPERLINK("http://evil.example","x")'
    rows[5].resource_id = "+1-2"
    rows[5].request_id = "@SUM(A1)"
    rows += [event(100 + n, other) for n in range(3)]
    async with database.transaction() as db:
        db.add_all(rows)
    return Subjects(patient, other, doctor)


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def exported(database: Database, admin_id: uuid.UUID) -> list[AuditEvent]:
    async with database.transaction() as db:
        return list(
            await db.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "audit.exported", AuditEvent.actor_id == admin_id)
                .order_by(AuditEvent.seq)
            )
        )


class TestRefused:
    async def test_only_administrators(self, client: httpx.AsyncClient, sign_in: SignIn) -> None:
        for url in (API, CSV):
            assert (await client.get(url)).status_code == 401
            for role in (Role.patient, Role.doctor, Role.nurse):
                me = await sign_in(role)
                assert (await client.get(url, headers=me.headers)).status_code == 403

    async def test_the_page_and_its_csv(
        self, client: httpx.AsyncClient, make_user: MakeUser, browser: Browser
    ) -> None:
        assert (await client.get("/admin/audit.csv")).status_code == 303
        someone = await browser(await make_user(Role.patient))
        assert (await someone.get("/admin/audit.csv", headers=HTML)).status_code == 403


class TestSubjectFilter:
    async def test_by_email_or_id_with_the_other_filters(
        self, client: httpx.AsyncClient, sign_in: SignIn, subjects: Subjects, database: Database
    ) -> None:
        admin = await sign_in(Role.admin)

        async def ask(**params: object) -> list[dict[str, Any]]:
            answer = await client.get(API, headers=admin.headers, params={"limit": 100, **params})
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])

        by_email = await ask(subject=subjects.patient.email.upper())
        assert [e["details"]["n"] for e in by_email] == list(range(11, -1, -1))
        assert {e["subject_id"] for e in by_email} == {str(subjects.patient.id)}
        assert await ask(subject=str(subjects.patient.id)) == by_email
        assert len(await ask(subject=str(subjects.other.id))) == 3
        window = await ask(
            subject=subjects.patient.email,
            actor=subjects.doctor.email,
            action="probe.",
            **{
                "from": (START + timedelta(minutes=3)).isoformat(),
                "to": (START + timedelta(minutes=4)).isoformat(),
            },
        )
        assert [e["details"]["n"] for e in window] == [4, 3]
        assert await ask(subject="nobody@example.org") == []
        assert await ask(subject=str(subjects.patient.id), actor=str(subjects.patient.id)) == []
        async with database.transaction() as db:
            recorded = list(
                await db.scalars(
                    select(AuditEvent.details).where(
                        AuditEvent.action == "audit.viewed", AuditEvent.actor_id == admin.user_id
                    )
                )
            )
        filters = [r["filters"] for r in recorded]
        assert {"subject": str(subjects.patient.id), "limit": "100"} not in filters
        assert any(f.get("subject") == str(subjects.patient.id) for f in filters)
        assert any(f.get("subject") == "no such account" for f in filters)
        assert all(subjects.patient.email not in str(r) for r in recorded)


class TestCsv:
    async def test_content_escaping_and_record(
        self, client: httpx.AsyncClient, sign_in: SignIn, subjects: Subjects, database: Database
    ) -> None:
        admin = await sign_in(Role.admin)
        answer = await client.get(
            CSV, headers=admin.headers, params={"subject": subjects.patient.email}
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        rows = parse(answer.text)
        assert [json_n(r) for r in rows] == list(range(11, -1, -1))
        assert {r["subject_id"] for r in rows} == {str(subjects.patient.id)}
        assert {r["actor_email"] for r in rows} == {subjects.doctor.email}
        tricky = next(r for r in rows if json_n(r) == 5)
        assert tricky["user_agent"] == '\'=HYPERLINK("http://evil.example","x")'
        assert tricky["resource_id"] == "'+1-2"
        assert tricky["request_id"] == "'@SUM(A1)"
        assert not any(
            cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values()
        )
        [logged] = await exported(database, admin.user_id)
        assert logged.details["count"] == 12
        assert logged.details["filters"] == {"subject": str(subjects.patient.id)}

    def test_safe_cell(self) -> None:
        assert safe_cell("-2+3") == "'-2+3"
        assert safe_cell("\tcmd") == "'\tcmd"
        assert safe_cell("plain=ok") == "plain=ok"
        assert safe_cell(None) == ""

    async def test_the_cap(
        self, settings: Settings, database: Database, subjects: Subjects, sign_in: SignIn
    ) -> None:
        capped = create_app(
            settings.model_copy(update={"audit_export_max_rows": 5}), database=database
        )
        async with serving(capped) as client:
            admin = await sign_in_with(client, database, settings)
            answer = await client.get(
                CSV, headers=admin, params={"subject": str(subjects.patient.id)}
            )
        assert answer.status_code == 200
        lines = answer.text.strip().split("\r\n")
        assert len(lines) == 1 + 5 + 1
        assert lines[-1].startswith("# stopped at 5 rows")

    async def test_bad_filters(self, client: httpx.AsyncClient, sign_in: SignIn) -> None:
        admin = await sign_in(Role.admin)
        answer = await client.get(
            CSV, headers=admin.headers, params={"from": "2026-03-02T00:00:00"}
        )
        assert answer.status_code == 422

    async def test_the_page_links_its_search(
        self, client: httpx.AsyncClient, make_user: MakeUser, subjects: Subjects
    ) -> None:
        admin = await make_user(Role.admin)
        await sign_in_browser(client, admin.email)
        page = await client.get("/admin/audit", params={"subject": subjects.other.email})
        assert page.status_code == 200
        assert page.text.count("<code>probe.read</code>") == 3
        link = re.search(r'<a href="([^"]+)" id="audit-csv"', page.text)
        assert link
        download = await client.get(link.group(1).replace("&amp;", "&"))
        assert download.status_code == 200
        assert len(parse(download.text)) == 3


def json_n(row: dict[str, str]) -> int:
    match = re.search(r'"n":(\d+)', row["details"])
    assert match, row
    return int(match.group(1))


async def sign_in_with(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> dict[str, str]:
    admin = await user_maker(database)(Role.admin)
    return await tokens_for(database, settings)(admin)


# -- the access log -------------------------------------------------------------------------------

ACCESS_LOG = "/api/v1/me/access-log"


@pytest.fixture
async def everyone_else(
    make_doctor: MakeDoctor, make_user: MakeUser, token_for: TokenFor
) -> dict[str, Person]:
    return await people_around(make_doctor, make_user, token_for)


class TestAccessLog:
    async def test_anonymous_is_refused(self, client: httpx.AsyncClient) -> None:
        assert (await client.get(ACCESS_LOG)).status_code == 401
        assert (await client.get("/account/access-log")).status_code == 303

    async def test_others_accesses_to_my_data_and_nothing_else(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        database: Database,
        everyone_else: dict[str, Person],
        scheduled_doctor: Any,
        token_for: TokenFor,
    ) -> None:
        talk = await booked_talk(client, database, everyone_else, scheduled_doctor)
        patient, other, doctor = (
            talk.people["patient"],
            talk.people["other_patient"],
            talk.people["doctor"],
        )
        await add_observation(client, patient.headers)  # mine: not listed
        await appointment_between(
            database, doctor.user, patient.user, "completed", datetime.now(UTC) - timedelta(days=2)
        )
        read = await client.get(
            f"/api/v1/patients/{patient.user.id}/records/observations", headers=doctor.headers
        )
        assert read.status_code == 200, read.text
        refused = await client.get(
            f"/api/v1/patients/{other.user.id}/records/observations", headers=doctor.headers
        )
        assert refused.status_code == 404
        await talk.sent("patient", "my own words")  # mine: not listed
        await talk.sent("doctor", "the doctor's words")
        assert (await talk.messages("doctor")).status_code == 200
        assert (await talk.messages("patient")).status_code == 200  # mine

        answer = await client.get(ACCESS_LOG, headers=patient.headers)
        assert answer.status_code == 200, answer.text
        entries = answer.json()["items"]
        assert {e["actor_id"] for e in entries} == {str(doctor.user.id)}
        actions = {(e["action"], e["resource_type"]) for e in entries}
        assert ("record.read", "patient_record") in actions
        assert ("message.sent", "message") in actions
        assert ("messages.read", "conversation") in actions
        reads = [e for e in entries if e["action"] == "record.read"]
        assert {e["basis"] for e in reads} == {"care"}
        assert all(e["actor_name"] == doctor.user.name for e in entries)
        assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)

        # The other patient sees the refused try on their record, and nothing of mine.
        theirs = (await client.get(ACCESS_LOG, headers=other.headers)).json()["items"]
        assert [(e["action"], e["outcome"]) for e in theirs] == [("record.read", "denied")]

        # Paged by cursor.
        first = (await client.get(ACCESS_LOG, headers=patient.headers, params={"limit": 1})).json()
        assert len(first["items"]) == 1
        second = await client.get(
            ACCESS_LOG, headers=patient.headers, params={"limit": 1, "cursor": first["next_cursor"]}
        )
        assert second.json()["items"][0] == entries[1]

        # Every audit row written about a patient's object names its patient.
        async with database.transaction() as db:
            about = list(
                await db.scalars(
                    select(AuditEvent).where(
                        AuditEvent.resource_type.in_(PATIENT_OBJECTS),
                        AuditEvent.actor_id.in_([p.user.id for p in talk.people.values()]),
                    )
                )
            )
        assert about
        unnamed = [(e.action, e.resource_type) for e in about if e.subject_id is None]
        assert unnamed == []

    async def test_the_page(
        self,
        client: httpx.AsyncClient,
        database: Database,
        make_user: MakeUser,
        everyone_else: dict[str, Person],
    ) -> None:
        patient = everyone_else["patient"]
        doctor = await make_user(Role.doctor)
        await appointment_between(
            database, doctor, patient.user, "completed", datetime.now(UTC) - timedelta(days=2)
        )
        await sign_in_browser(client, patient.user.email)
        empty = await client.get("/account/access-log")
        assert empty.status_code == 200
        assert 'id="no-accesses"' in empty.text
        async with database.transaction() as db:
            db.add(
                AuditEvent(
                    actor_id=doctor.id,
                    actor_role="doctor",
                    action="record.read",
                    resource_type="patient_record",
                    resource_id=str(patient.user.id),
                    subject_id=patient.user.id,
                    outcome="success",
                    details={"basis": "care", "section": "observations"},
                )
            )
        page = await client.get("/account/access-log")
        assert 'id="my-access-log"' in page.text
        assert doctor.name in page.text
        assert "your health record" in page.text
        account = await client.get("/account")
        assert 'href="/account/access-log"' in account.text
        record_log = await client.get("/records/access-log")
        assert 'href="/account/access-log"' in record_log.text
