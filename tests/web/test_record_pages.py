"""Health record pages: the patient's dashboard, a kind's chart with its add-a-reading form,
sharing and the access log; a doctor's view from the appointment (with a clinician's form only
while caring for the patient), the 404 page with the break-the-glass form for a doctor without
access. Refused first: a visitor is sent to sign in, other roles get the 403 page, someone
else's record is the 404 page."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from carebridge.accounts.models import Role, User
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from carebridge.records.models import EmergencyAccess, Observation, RecordGrant
from tests.factories.prescriptions import MakeConsultation
from tests.factories.records import RECORD_CANARY, add_observation
from tests.factories.users import MakeUser, Person
from tests.factories.web import Browser, csrf

MakePerson = Callable[..., Awaitable[Person]]
Json = dict[str, Any]
PATIENT_PAGES = ("/records", "/records/observations/heart_rate", "/records/sharing")


def series_json(page: httpx.Response) -> Json:
    match = re.search(
        r'<script type="application/json" id="series-data">(.*?)</script>', page.text, re.S
    )
    assert match, page.text[:400]
    found: Json = json.loads(match.group(1))
    return found


async def share(
    me: httpx.AsyncClient, token: str, grantee: uuid.UUID, sections: list[str], until: str
) -> httpx.Response:
    """The sharing form posted with an identifier typed."""
    data = {"csrf_token": token, "other_grantee_id": str(grantee), "sections": sections}
    return await me.post("/records/sharing", data={**data, "expires_on": until})


async def count(database: Database, statement: Any) -> int:
    async with database.transaction() as db:
        return int(await db.scalar(statement) or 0)


class TestRefused:
    async def test_a_visitor_is_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        for path in (*PATIENT_PAGES, "/records/access-log", f"/patients/{uuid.uuid4()}/record"):
            answer = await client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/signin"), path

    async def test_the_patient_pages_are_for_patients(
        self, browser: Browser, make_user: MakeUser
    ) -> None:
        for role in (Role.doctor, Role.nurse, Role.admin):
            other = await browser(await make_user(role))
            for path in (*PATIENT_PAGES, "/records/access-log"):
                answer = await other.get(path)
                assert answer.status_code == 403, (role, path)
                assert answer.headers["content-type"].startswith("text/html")

    async def test_someone_elses_record_is_the_404_page_without_the_form(
        self, browser: Browser, make_user: MakeUser, person: MakePerson, client: httpx.AsyncClient
    ) -> None:
        owner = await person(Role.patient)
        await add_observation(client, owner.headers)
        for role in (Role.patient, Role.nurse, Role.admin):
            other = await browser(await make_user(role))
            page = await other.get(f"/patients/{owner.user.id}/record")
            assert page.status_code == 404, role
            assert RECORD_CANARY not in page.text
            assert 'id="latest-heart_rate"' not in page.text
            assert 'id="break-glass-form"' not in page.text
            chart = await other.get(f"/patients/{owner.user.id}/record/observations/heart_rate")
            assert chart.status_code == 404

    async def test_a_doctor_without_access_gets_the_404_page_with_the_break_glass_form(
        self,
        browser: Browser,
        make_user: MakeUser,
        person: MakePerson,
        client: httpx.AsyncClient,
        database: Database,
    ) -> None:
        owner = await person(Role.patient)
        await add_observation(client, owner.headers, value=61)
        stranger = await browser(await make_user(Role.doctor))
        page = await stranger.get(f"/patients/{owner.user.id}/record")
        assert page.status_code == 404
        assert 'id="break-glass-form"' in page.text
        assert 'id="latest-heart_rate"' not in page.text
        short = await stranger.post(
            f"/patients/{owner.user.id}/record/emergency",
            data={"csrf_token": csrf(page), "reason": "urgent"},
        )
        assert short.status_code == 422
        assert "Reason: at least 20 characters" in short.text
        assert 'value="urgent"' in short.text or ">urgent</textarea>" in short.text
        assert await count(database, select(func.count()).select_from(EmergencyAccess)) == 0

        reason = "Unconscious in the emergency room, no relatives reachable."
        opened = await stranger.post(
            f"/patients/{owner.user.id}/record/emergency",
            data={"csrf_token": csrf(page), "reason": reason},
        )
        assert opened.status_code == 303
        record = await stranger.get(opened.headers["location"])
        assert record.status_code == 200
        assert "Emergency access opened" in record.text
        assert re.search(r'id="latest-heart_rate".*?61 <small>', record.text, re.S)
        audited = select(func.count()).where(
            AuditEvent.action == "record.emergency_access",
            AuditEvent.resource_id == str(owner.user.id),
        )
        assert await count(database, audited) == 1


async def test_the_patient_adds_a_reading_and_sees_it_charted(
    browser: Browser, make_user: MakeUser, database: Database
) -> None:
    patient: User = await make_user(Role.patient)
    me = await browser(patient)
    dashboard = await me.get("/records")
    assert dashboard.status_code == 200
    assert 'href="/records/observations/blood_pressure"' in dashboard.text
    assert 'id="nav-records"' in dashboard.text
    page = await me.get("/records/observations/blood_pressure?span=week")
    assert page.status_code == 200
    assert 'name="value2"' in page.text
    assert 'value="mm[Hg]"' in page.text
    assert series_json(page)["points"] == []

    impossible = await me.post(
        "/records/observations/heart_rate",
        data={"csrf_token": csrf(page), "value": "900", "unit": "/min", "note": RECORD_CANARY},
    )
    assert impossible.status_code == 422
    assert "Heart rate must be between" in impossible.text
    assert 'value="900"' in impossible.text
    assert RECORD_CANARY in impossible.text
    not_a_number = await me.post(
        "/records/observations/heart_rate", data={"csrf_token": csrf(page), "value": "fast"}
    )
    assert not_a_number.status_code == 422
    assert "Reading: a number" in not_a_number.text
    stored = select(func.count()).where(Observation.patient_id == patient.id)
    assert await count(database, stored) == 0

    added = await me.post(
        "/records/observations/blood_pressure",
        data={"csrf_token": csrf(page), "value": "150", "value2": "95", "unit": "mm[Hg]"},
    )
    assert added.status_code == 303
    chart = await me.get(added.headers["location"] + "&span=week")
    assert "Reading added." in chart.text
    points = series_json(chart)["points"]
    assert [(p["count"], p["mean"], p["mean2"]) for p in points] == [(1, 150.0, 95.0)]
    assert 'id="record-chart"' in chart.text
    assert "flag-high" in chart.text
    celsius = await me.post(
        "/records/observations/body_temperature",
        data={"csrf_token": csrf(page), "value": "98.6", "unit": "[degF]"},
    )
    assert celsius.status_code == 303
    dashboard = await me.get("/records")
    assert re.search(r'id="latest-body_temperature".*?37 <small>', dashboard.text, re.S)
    assert await count(database, stored) == 2
    assert (await me.get("/records/observations/bmi")).status_code == 404
    assert (await me.get("/records/observations/pulse")).status_code == 404


async def test_the_patient_shares_and_revokes(
    consultation: MakeConsultation, browser: Browser, make_user: MakeUser, database: Database
) -> None:
    visit = await consultation("completed")
    me = await browser(visit.patient.user)
    page = await me.get("/records/sharing")
    assert page.status_code == 200
    assert f'value="{visit.doctor.user.id}"' in page.text  # a doctor of theirs to pick
    nurse = await make_user(Role.nurse)
    until = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    unknown = await share(me, csrf(page), uuid.uuid4(), ["observations"], until)
    assert unknown.status_code == 422
    assert "No such doctor or nurse." in unknown.text
    too_late = await share(me, csrf(page), nurse.id, ["observations", "allergies"], "2099-01-01")
    assert too_late.status_code == 422
    assert "at most" in too_late.text
    assert str(nurse.id) in too_late.text
    assert 'value="allergies" id="section-allergies" checked' in too_late.text
    shared = await share(me, csrf(page), nurse.id, ["observations"], until)
    assert shared.status_code == 303
    listed = await me.get("/records/sharing?done=granted")
    assert nurse.name in listed.text
    async with database.transaction() as db:
        grant = await db.scalar(select(RecordGrant).where(RecordGrant.grantee_id == nurse.id))
    assert grant is not None
    assert grant.sections == ["observations"]
    assert grant.revoked_at is None

    # The nurse reads it now; the patient sees the read in the access log.
    nurse_browser = await browser(nurse)
    read = await nurse_browser.get(f"/patients/{visit.patient.user.id}/record")
    assert read.status_code == 200
    log = await me.get("/records/access-log")
    assert nurse.name in log.text
    assert "you shared it" in log.text

    someone = await browser(await make_user(Role.patient))
    token = csrf(await someone.get("/records/sharing"))
    theirs = await someone.post(f"/records/sharing/{grant.id}/revoke", data={"csrf_token": token})
    assert theirs.status_code == 404
    revoked = await me.post(f"/records/sharing/{grant.id}/revoke", data={"csrf_token": csrf(page)})
    assert revoked.status_code == 303
    async with database.transaction() as db:
        row = await db.get(RecordGrant, grant.id)
    assert row is not None
    assert row.revoked_at is not None
    assert (await nurse_browser.get(f"/patients/{visit.patient.user.id}/record")).status_code == 404


async def test_the_doctor_opens_the_record_from_the_appointment(
    consultation: MakeConsultation, browser: Browser, make_user: MakeUser, client: httpx.AsyncClient
) -> None:
    visit = await consultation("completed")
    await add_observation(client, visit.patient.headers, value=58)
    doctor = await browser(visit.doctor.user)
    appointment = await doctor.get(f"/appointments/{visit.appointment.id}")
    link = f'href="/patients/{visit.patient.user.id}/record"'
    assert link in appointment.text
    record = await doctor.get(f"/patients/{visit.patient.user.id}/record")
    assert record.status_code == 200
    assert re.search(r'id="latest-heart_rate".*?58 <small>', record.text, re.S)
    assert 'id="record-basis"' in record.text
    assert 'id="record-nav-sharing"' not in record.text  # the patient's own settings
    chart = await doctor.get(f"/patients/{visit.patient.user.id}/record/observations/heart_rate")
    assert 'id="reading-form"' in chart.text  # caring for the patient: may add
    added = await doctor.post(
        f"/patients/{visit.patient.user.id}/record/observations/heart_rate",
        data={"csrf_token": csrf(chart), "value": "64", "unit": "/min"},
    )
    assert added.status_code == 303
    after = await doctor.get(added.headers["location"])
    assert "clinician" in after.text
    assert "Reading added." in after.text

    # A doctor the patient only shared with reads, and is offered no form.
    other = await make_user(Role.doctor)
    me = await browser(visit.patient.user)
    sharing = await me.get("/records/sharing")
    until = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    shared = await share(me, csrf(sharing), other.id, ["all"], until)
    assert shared.status_code == 303
    reader = await browser(other)
    page = await reader.get(f"/patients/{visit.patient.user.id}/record/observations/heart_rate")
    assert page.status_code == 200
    assert 'id="reading-form"' not in page.text
    refused = await reader.post(
        f"/patients/{visit.patient.user.id}/record/observations/heart_rate",
        data={"csrf_token": csrf(page), "value": "70"},
    )
    assert refused.status_code == 403
    assert "for reading" in refused.text
    # The patient's own address of the clinician's view leads to their own pages.
    own = await me.get(f"/patients/{visit.patient.user.id}/record")
    assert own.status_code == 303
    assert own.headers["location"] == "/records"


@pytest.mark.parametrize("path", ["/records/observations/heart_rate"])
async def test_an_empty_form_is_shown_again(
    browser: Browser, make_user: MakeUser, path: str
) -> None:
    me = await browser(await make_user(Role.patient))
    page = await me.get(path)
    answer = await me.post(path, data={"csrf_token": csrf(page)})
    assert answer.status_code == 422
    assert "Reading: required" in answer.text
