"""The medication pages: today's doses with Taken and Skip, the list with each one's schedule
and adherence, the add form and its refusals, stopping, adding an issued prescription; a
clinician's read-only list. Refused first: a visitor is sent to sign in, other roles get the
403 page, someone else's medication or prescription is the 404 page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from carebridge.accounts.models import Role, User
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from carebridge.records.models import Medication, MedicationDose
from tests.factories.prescriptions import Consultation, MakeConsultation
from tests.factories.records import RECORD_CANARY
from tests.factories.users import MakeUser, Person
from tests.factories.web import Browser, csrf

MakePerson = Callable[..., Awaitable[Person]]
Json = dict[str, Any]
MEDS = "/records/medications"


async def count(database: Database, statement: Any) -> int:
    async with database.transaction() as db:
        return int(await db.scalar(statement) or 0)


async def add_api(client: httpx.AsyncClient, who: Person, **fields: Any) -> Json:
    body = {"name": "Metformin 500 mg", "times": ["00:00"], **fields}
    answer = await client.post("/api/v1/records/medications", json=body, headers=who.headers)
    assert answer.status_code == 201, answer.text
    added: Json = answer.json()
    return added


def dose_fields(page: httpx.Response, medication_id: str) -> dict[str, str]:
    """The hidden fields of a dose's Taken/Skip form on the page."""
    match = re.search(
        rf'action="/records/medications/{medication_id}/doses".*?name="local_date" '
        r'value="([^"]+)".*?name="local_time" value="([^"]+)"',
        page.text,
        re.S,
    )
    assert match, page.text[:600]
    return {"local_date": match.group(1), "local_time": match.group(2)}


class TestRefused:
    async def test_a_visitor_is_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        for path in (MEDS, f"/patients/{uuid.uuid4()}/record/medications"):
            answer = await client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/signin"), path

    async def test_the_patient_pages_are_for_patients(
        self, browser: Browser, make_user: MakeUser
    ) -> None:
        for role in (Role.doctor, Role.nurse, Role.admin):
            other = await browser(await make_user(role))
            answer = await other.get(MEDS)
            assert answer.status_code == 403, role
            assert answer.headers["content-type"].startswith("text/html")

    async def test_someone_elses_medication_is_the_404_page(
        self,
        browser: Browser,
        make_user: MakeUser,
        person: MakePerson,
        client: httpx.AsyncClient,
        database: Database,
    ) -> None:
        owner = await person(Role.patient)
        medication = await add_api(client, owner, instructions=RECORD_CANARY)
        someone = await browser(await make_user(Role.patient))
        page = await someone.get(MEDS)
        assert RECORD_CANARY not in page.text
        token = csrf(page)
        stop = await someone.post(f"{MEDS}/{medication['id']}/stop", data={"csrf_token": token})
        assert stop.status_code == 404
        fields = {"local_date": "2026-01-01", "local_time": "00:00", "status": "taken"}
        dose = await someone.post(
            f"{MEDS}/{medication['id']}/doses", data={"csrf_token": token, **fields}
        )
        assert dose.status_code == 404
        assert RECORD_CANARY not in dose.text
        for role in (Role.patient, Role.nurse, Role.doctor):
            other = await browser(await make_user(role))
            answer = await other.get(f"/patients/{owner.user.id}/record/medications")
            assert answer.status_code == 404, role
            assert RECORD_CANARY not in answer.text
        stopped = select(func.count()).where(Medication.stopped_at.is_not(None))
        assert await count(database, stopped.where(Medication.id == medication["id"])) == 0
        assert await count(database, select(func.count()).select_from(MedicationDose)) == 0


async def test_the_patient_adds_a_medication_and_marks_todays_dose_taken(
    browser: Browser, make_user: MakeUser, database: Database
) -> None:
    patient: User = await make_user(Role.patient)
    me = await browser(patient)
    dashboard = await me.get("/records")
    assert 'id="record-nav-medications"' in dashboard.text
    page = await me.get(MEDS)
    assert page.status_code == 200
    assert 'id="no-doses"' in page.text
    assert 'id="no-medications"' in page.text
    assert 'id="medication-form"' in page.text

    added = await me.post(
        MEDS,
        data={
            "csrf_token": csrf(page),
            "name": "Lisinopril 10 mg",
            "dose": "1 tablet",
            "route": "oral",
            "times": ["00:00", "", "23:59", ""],
            "weekdays": [],
            "reminders": "on",
            "instructions": RECORD_CANARY,
        },
    )
    assert added.status_code == 303
    assert added.headers["location"] == f"{MEDS}?done=added"
    async with database.transaction() as db:
        row = await db.scalar(select(Medication).where(Medication.patient_id == patient.id))
    assert row is not None
    assert [f"{t:%H:%M}" for t in row.times] == ["00:00", "23:59"]
    assert row.reminders is True
    listed = await me.get(added.headers["location"])
    assert "Medication added." in listed.text
    item = re.search(rf'id="medication-{row.id}".*?</li>', listed.text, re.S)
    assert item
    assert "Lisinopril 10 mg" in item.group(0)
    assert "1 tablet · oral" in item.group(0)
    assert "Every day at 00:00 and 23:59" in item.group(0)
    assert RECORD_CANARY in item.group(0)
    assert "Last 30 days:" in item.group(0)
    dose_id = f"dose-{row.id}-0000"
    assert re.search(rf'id="{dose_id}" data-status="(due|missed)"', listed.text)

    fields = dose_fields(listed, str(row.id))
    marked = await me.post(
        f"{MEDS}/{row.id}/doses", data={"csrf_token": csrf(listed), "status": "taken", **fields}
    )
    assert marked.status_code == 303
    assert marked.headers["location"] == f"{MEDS}?done=taken#{dose_id}"
    after = await me.get(marked.headers["location"])
    assert "Dose marked taken." in after.text
    dose = re.search(rf'id="{dose_id}" data-status="taken">.*?</li>', after.text, re.S)
    assert dose
    assert "Taken" in dose.group(0)
    assert "/doses" not in dose.group(0)  # no buttons once taken
    assert "taken 1 of 1 doses, 100 %" in after.text
    async with database.transaction() as db:
        stored = await db.scalar(
            select(MedicationDose).where(MedicationDose.medication_id == row.id)
        )
    assert stored is not None
    assert stored.status == "taken"

    stopped = await me.post(f"{MEDS}/{row.id}/stop", data={"csrf_token": csrf(after)})
    assert stopped.status_code == 303
    final = await me.get(stopped.headers["location"])
    assert "Medication stopped" in final.text
    assert re.search(rf'class="medication ended" id="medication-{row.id}"', final.text)
    assert f'id="stop-{row.id}"' not in final.text


async def test_a_refused_medication_is_shown_with_the_message_and_what_was_typed(
    browser: Browser, make_user: MakeUser, database: Database
) -> None:
    patient: User = await make_user(Role.patient)
    me = await browser(patient)
    page = await me.get(MEDS)
    typed = {
        "csrf_token": csrf(page),
        "name": "Atorvastatin 20 mg",
        "times": ["21:00", "", "", ""],
        "weekdays": ["1", "4"],
        "starts_on": "2026-03-10",
        "ends_on": "2026-03-01",
        "instructions": RECORD_CANARY,
    }
    before_start = await me.post(MEDS, data=typed)
    assert before_start.status_code == 422
    assert "The last day (ends_on) cannot be before the first." in before_start.text
    assert 'value="Atorvastatin 20 mg"' in before_start.text
    assert 'value="21:00"' in before_start.text
    assert 'value="4" id="weekday-4" checked' in before_start.text
    assert 'value="2" id="weekday-2">' in before_start.text
    assert 'id="medication-reminders">' in before_start.text  # left unticked, kept so
    assert RECORD_CANARY in before_start.text
    no_name = await me.post(MEDS, data={"csrf_token": csrf(page), "times": ["08:00"]})
    assert no_name.status_code == 422
    assert "Name: required" in no_name.text
    bad_day = await me.post(MEDS, data={"csrf_token": csrf(page), "name": "X", "weekdays": ["9"]})
    assert bad_day.status_code == 422
    assert "Weekdays: at most 7" in bad_day.text
    stored = select(func.count()).where(Medication.patient_id == patient.id)
    assert await count(database, stored) == 0


async def test_a_refused_dose_shows_the_message(
    browser: Browser, person: MakePerson, client: httpx.AsyncClient
) -> None:
    owner = await person(Role.patient)
    medication = await add_api(client, owner, times=["00:00"])
    me = await browser(owner.user)
    page = await me.get(MEDS)
    fields = dose_fields(page, medication["id"])
    wrong_time = await me.post(
        f"{MEDS}/{medication['id']}/doses",
        data={**fields, "csrf_token": csrf(page), "local_time": "07:15", "status": "taken"},
    )
    assert wrong_time.status_code == 422
    assert "is not a time of this medication" in wrong_time.text
    unmarked = await me.post(
        f"{MEDS}/{medication['id']}/doses", data={**fields, "csrf_token": csrf(page)}
    )
    assert unmarked.status_code == 422
    assert "Taken or skipped: required" in unmarked.text
    skipped = await me.post(
        f"{MEDS}/{medication['id']}/doses",
        data={**fields, "csrf_token": csrf(page), "status": "skipped"},
    )
    assert skipped.status_code == 303
    after = await me.get(skipped.headers["location"])
    assert "Dose marked skipped." in after.text
    assert "taken 0 of 1 doses, 0 %" in after.text


async def test_the_patient_adds_an_issued_prescription(
    browser: Browser,
    consultation: MakeConsultation,
    issued: Callable[..., Awaitable[Json]],
    write: Callable[..., Awaitable[Json]],
    person: MakePerson,
) -> None:
    visit: Consultation = await consultation("completed")
    prescription = await issued(visit, render=False)
    draft = await write(visit)
    me = await browser(visit.patient.user)
    page = await me.get(MEDS)
    button = f'id="add-prescription-{prescription["id"]}"'
    assert button in page.text
    assert visit.doctor.user.name in page.text
    assert draft["id"] not in page.text  # a draft is not offered

    stranger = await browser((await person(Role.patient)).user)
    theirs = await stranger.post(
        f"{MEDS}/from-prescription/{prescription['id']}",
        data={"csrf_token": csrf(await stranger.get(MEDS))},
    )
    assert theirs.status_code == 404
    not_issued = await me.post(
        f"{MEDS}/from-prescription/{draft['id']}", data={"csrf_token": csrf(page)}
    )
    assert not_issued.status_code == 404

    added = await me.post(
        f"{MEDS}/from-prescription/{prescription['id']}", data={"csrf_token": csrf(page)}
    )
    assert added.status_code == 303
    after = await me.get(added.headers["location"])
    assert "Added from the prescription." in after.text
    assert "Amoxicillin 500 mg" in after.text
    assert "Every day at 08:00, 14:00 and 20:00" in after.text
    assert "Paracetamol 500 mg" in after.text
    assert "As needed (no set times)" in after.text
    assert f"Prescribed by {visit.doctor.user.name}" in after.text
    assert button not in after.text  # in the list now
    again = await me.post(
        f"{MEDS}/from-prescription/{prescription['id']}", data={"csrf_token": csrf(page)}
    )
    assert again.headers["location"] == f"{MEDS}?done=already"


async def test_the_doctor_reads_the_list_without_forms(
    consultation: MakeConsultation,
    browser: Browser,
    make_user: MakeUser,
    client: httpx.AsyncClient,
    database: Database,
) -> None:
    visit = await consultation("completed")
    medication = await add_api(client, visit.patient, instructions=RECORD_CANARY)
    doctor = await browser(visit.doctor.user)
    record = await doctor.get(f"/patients/{visit.patient.user.id}/record")
    link = f'href="/patients/{visit.patient.user.id}/record/medications"'
    assert link in record.text
    page = await doctor.get(f"/patients/{visit.patient.user.id}/record/medications")
    assert page.status_code == 200
    assert f'id="medication-{medication["id"]}"' in page.text
    assert RECORD_CANARY in page.text
    assert 'id="record-basis"' in page.text
    for form in ('id="medication-form"', 'id="today"', "/doses", "/stop", "from-prescription"):
        assert form not in page.text, form
    reads = select(func.count()).where(
        AuditEvent.action == "record.read",
        AuditEvent.resource_id == str(visit.patient.user.id),
        AuditEvent.actor_id == visit.doctor.user.id,
    )
    assert await count(database, reads) >= 1

    # A nurse the patient shared only their observations with: no link, the 404 page.
    nurse = await make_user(Role.nurse)
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    answer = await client.post(
        "/api/v1/records/grants",
        json={"grantee_id": str(nurse.id), "sections": ["observations"], "expires_at": until},
        headers=visit.patient.headers,
    )
    assert answer.status_code == 201, answer.text
    reader = await browser(nurse)
    their_record = await reader.get(f"/patients/{visit.patient.user.id}/record")
    assert their_record.status_code == 200
    assert 'id="record-nav-medications"' not in their_record.text
    refused = await reader.get(f"/patients/{visit.patient.user.id}/record/medications")
    assert refused.status_code == 404
    assert RECORD_CANARY not in refused.text

    # The patient's own address of the clinician's page leads to theirs.
    me = await browser(visit.patient.user)
    own = await me.get(f"/patients/{visit.patient.user.id}/record/medications")
    assert own.status_code == 303
    assert own.headers["location"] == MEDS
