"""A home visit's report through the API: the nurse writes and submits it (its vitals land in the
patient's health record, replaced on a second submission), a doctor sends it back or signs it off
(the visit moves, the people are told), the patient downloads the signed PDF (audited, without
the care team's notes); who may read it; photos; bad input and wrong states; doctors racing to
take one report."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pypdf
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from carebridge.accounts.models import Role, User
from carebridge.app import create_app
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.visits.models import Visit, VisitReport, VisitStatus, VisitTransition
from tests.factories import files
from tests.factories.users import MakeUser, Person, TokenFor, tokens_for, user_maker
from tests.factories.visits import VISIT_CANARY, MakePeople, on_roster, visit_in

Json = dict[str, Any]
OBSERVATION_CANARY = "zqnote-for-the-doctor-5521"
CHANGES_CANARY = "zqchanges-asked-3310"
FEEDBACK_CANARY = "zqfeedback-private-8874"
DOCTORS = 5  # racing to review one report


def report_body(heart_rate: float = 72) -> Json:
    return {
        "vitals": [
            {"kind": "heart_rate", "value": heart_rate},
            {"kind": "blood_pressure", "value": 128, "value2": 82, "unit": "mm[Hg]"},
            {"kind": "body_temperature", "value": 37.4, "unit": "Cel"},
        ],
        "interventions": ["Cleaned and dressed the leg ulcer"],
        "medications_given": [{"name": "Enoxaparin", "dose": "40 mg", "route": "subcutaneous"}],
        "observations": f"Wound edges slightly red {OBSERVATION_CANARY}",
        "recommendations": "Keep the leg raised; change the dressing in two days.",
    }


@dataclass
class Scene:
    client: httpx.AsyncClient
    database: Database
    patient: Person
    nurse: Person
    admin: Person
    doctor: Person  # ordered the visit
    visit_id: uuid.UUID

    @property
    def url(self) -> str:
        return f"/api/v1/visits/{self.visit_id}/report"


async def _person(make_user: MakeUser, token_for: TokenFor, role: Role) -> Person:
    user = await make_user(role)
    return Person(user, await token_for(user))


@pytest.fixture
async def scene(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    visit_people: MakePeople,
) -> Scene:
    people = await visit_people()
    visit_id = await visit_in(
        database,
        settings,
        people.patient.user,
        VisitStatus.completed,
        nurse=people.nurse.user,
        ordered_by=people.doctor.user,
    )
    return Scene(
        client,
        database,
        people.patient,
        people.nurse,
        people.admin,
        people.doctor,
        visit_id,
    )


async def _kinds(database: Database, user_id: uuid.UUID) -> list[str]:
    async with database.transaction() as db:
        found = await db.scalars(
            select(Notification.kind)
            .where(Notification.recipient_id == user_id)
            .order_by(Notification.created_at)
        )
        return list(found)


async def _audits(database: Database, actor_id: uuid.UUID, visit_id: uuid.UUID, action: str) -> int:
    async with database.transaction() as db:
        found = await db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.actor_id == actor_id,
                AuditEvent.resource_id == str(visit_id),
                AuditEvent.action == action,
            )
        )
    return found or 0


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


async def _visit_vitals(client: httpx.AsyncClient, patient: Person) -> list[Json]:
    answer = await client.get("/api/v1/records/observations", headers=patient.headers)
    assert answer.status_code == 200, answer.text
    return [item for item in answer.json()["items"] if item["source"] == "visit"]


async def test_a_report_from_draft_to_signed_pdf(scene: Scene, settings: Settings) -> None:
    client, nurse, doctor, patient = scene.client, scene.nurse, scene.doctor, scene.patient
    empty = await client.get(scene.url, headers=nurse.headers)
    assert empty.status_code == 200, empty.text
    assert (empty.json()["status"], empty.json()["version"]) == ("draft", 0)
    assert empty.json()["actions"] == ["edit"]

    saved = await client.put(scene.url, json=report_body(), headers=nurse.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 1
    assert saved.json()["vitals"][0]["unit"] == "/min"
    assert saved.json()["vitals"][0]["measured_at"] is not None
    assert "submit" in saved.json()["actions"]
    # Not submitted: the patient and the ordering doctor do not see it yet.
    assert (await client.get(scene.url, headers=patient.headers)).status_code == 404
    assert (await client.get(scene.url, headers=doctor.headers)).status_code == 404

    submitted = await client.post(f"{scene.url}/submit", headers=nurse.headers)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    assert "visit_report_submitted" in await _kinds(scene.database, doctor.user.id)
    first = await _visit_vitals(client, patient)
    assert sorted(v["kind"] for v in first) == ["blood_pressure", "body_temperature", "heart_rate"]
    assert {v["recorded_by_id"] for v in first} == {str(nurse.user.id)}
    assert next(v for v in first if v["kind"] == "heart_rate")["value"] == 72
    assert next(v for v in first if v["kind"] == "blood_pressure")["value2"] == 82

    sent_back = await client.post(
        f"{scene.url}/review",
        json={"decision": "request_changes", "changes": f"Recount the pulse {CHANGES_CANARY}"},
        headers=doctor.headers,
    )
    assert sent_back.status_code == 200, sent_back.text
    assert sent_back.json()["status"] == "changes_requested"
    assert sent_back.json()["reviewer"]["id"] == str(doctor.user.id)
    assert "visit_report_changes" in await _kinds(scene.database, nurse.user.id)
    mine = (await client.get(scene.url, headers=nurse.headers)).json()
    assert CHANGES_CANARY in mine["changes_requested"]

    again = await client.put(scene.url, json=report_body(heart_rate=80), headers=nurse.headers)
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 2
    assert (await client.post(f"{scene.url}/submit", headers=nurse.headers)).status_code == 200
    second = await _visit_vitals(client, patient)
    assert len(second) == 3  # replaced, not added
    assert [v["value"] for v in second if v["kind"] == "heart_rate"] == [80]

    signed = await client.post(
        f"{scene.url}/review",
        json={"decision": "sign_off", "rating": 4, "feedback": f"Thorough {FEEDBACK_CANARY}"},
        headers=doctor.headers,
    )
    assert signed.status_code == 200, signed.text
    assert (signed.json()["status"], signed.json()["rating"]) == ("signed_off", 4)
    visit = (await client.get(f"/api/v1/visits/{scene.visit_id}", headers=patient.headers)).json()
    assert visit["status"] == "signed_off"
    assert visit["timeline"][-1]["actor"]["id"] == str(doctor.user.id)
    assert "visit_report_signed" in await _kinds(scene.database, nurse.user.id)
    assert "visit_report_ready" in await _kinds(scene.database, patient.user.id)

    # The patient reads it now, without the care team's notes.
    theirs = await client.get(scene.url, headers=patient.headers)
    assert theirs.status_code == 200, theirs.text
    body = theirs.json()
    assert body["status"] == "signed_off"
    assert (body["observations"], body["feedback"], body["rating"]) == (None, None, None)
    assert body["changes_requested"] is None
    assert body["recommendations"] == report_body()["recommendations"]
    assert OBSERVATION_CANARY not in theirs.text
    assert FEEDBACK_CANARY not in theirs.text

    pdf = await client.get(
        f"{scene.url.removesuffix('/report')}/report.pdf", headers=patient.headers
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["cache-control"] == "no-store"
    text = _text(pdf.content)
    for expected in (
        settings.clinic_name,
        patient.user.name,
        nurse.user.name,
        "Wound care",
        "Heart rate: 80",
        "128/82 mmHg",
        "Cleaned and dressed the leg ulcer",
        "Enoxaparin, 40 mg, subcutaneous",
        "Keep the leg raised",
        f"Signed off by {doctor.user.name}",
    ):
        assert expected in text, expected
    for secret in (OBSERVATION_CANARY, CHANGES_CANARY, FEEDBACK_CANARY, VISIT_CANARY):
        assert secret not in text, secret
    assert await _audits(scene.database, patient.user.id, scene.visit_id, "visit.report.pdf") == 1


async def _submitted(scene: Scene) -> None:
    client = scene.client
    saved = await client.put(scene.url, json=report_body(), headers=scene.nurse.headers)
    assert saved.status_code == 200, saved.text
    submitted = await client.post(f"{scene.url}/submit", headers=scene.nurse.headers)
    assert submitted.status_code == 200, submitted.text


async def test_who_may_read_the_report_and_its_pdf(
    scene: Scene, make_user: MakeUser, token_for: TokenFor, database: Database
) -> None:
    client = scene.client
    other_patient = await _person(make_user, token_for, Role.patient)
    other_nurse = await _person(make_user, token_for, Role.nurse)
    await on_roster(database, other_nurse.user)
    first_doctor = await _person(make_user, token_for, Role.doctor)
    second_doctor = await _person(make_user, token_for, Role.doctor)
    await _submitted(scene)
    photo = await client.post(
        f"{scene.url}/photos",
        files={"file": ("wound.png", files.png(), "image/png")},
        headers=scene.nurse.headers,
    )
    assert photo.status_code == 409  # submitted: the nurse's photos wait for changes
    pdf_url = f"/api/v1/visits/{scene.visit_id}/report.pdf"

    assert (await client.get(scene.url)).status_code == 401
    # Waiting in the queue: any doctor reads it.
    queued = await client.get(scene.url, headers=first_doctor.headers)
    assert queued.status_code == 200, queued.text
    assert queued.json()["actions"] == ["review", "download"]
    taken = await client.post(
        f"{scene.url}/review",
        json={"decision": "request_changes", "changes": "More detail on the wound"},
        headers=first_doctor.headers,
    )
    assert taken.status_code == 200, taken.text

    for stranger in (other_patient, other_nurse, second_doctor, scene.admin, scene.patient):
        for url in (scene.url, pdf_url):
            answer = await client.get(url, headers=stranger.headers)
            assert answer.status_code == 404, (stranger.user.role, url, answer.text)
            assert VISIT_CANARY not in answer.text
    for reader in (scene.nurse, first_doctor, scene.doctor):  # the ordering doctor too
        assert (await client.get(scene.url, headers=reader.headers)).status_code == 200
        assert (await client.get(pdf_url, headers=reader.headers)).status_code == 200
    # Reading it is not reviewing it: a doctor does.
    refused = await client.post(
        f"{scene.url}/review",
        json={"decision": "sign_off", "rating": 5},
        headers=scene.nurse.headers,
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_a_doctor"
    draft_pdf = _text((await client.get(pdf_url, headers=scene.nurse.headers)).content)
    assert "Not signed off yet" in draft_pdf
    assert await _audits(database, first_doctor.user.id, scene.visit_id, "visit.report.pdf") == 1
    assert await _audits(database, first_doctor.user.id, scene.visit_id, "visit.report.read") == 2


async def test_bad_vitals_and_wrong_states_are_refused(
    scene: Scene, database: Database, settings: Settings
) -> None:
    client, nurse = scene.client, scene.nurse
    for vital, code in (
        ({"kind": "heart_rate", "value": 900}, "impossible_value"),
        ({"kind": "heart_rate", "value": 70, "unit": "kg"}, "unknown_unit"),
        ({"kind": "blood_pressure", "value": 120}, "value2_required"),
        ({"kind": "bmi", "value": 22}, "derived_kind"),
        (
            {"kind": "heart_rate", "value": 70, "measured_at": "2099-01-01T00:00:00Z"},
            "measured_in_future",
        ),
    ):
        answer = await client.put(scene.url, json={"vitals": [vital]}, headers=nurse.headers)
        assert answer.status_code == 422, (vital, answer.text)
        assert answer.json()["code"] == code, answer.text
    malformed = await client.put(
        scene.url, json={"vitals": [{"kind": "mood", "value": 1}]}, headers=nurse.headers
    )
    assert malformed.status_code == 422
    assert (await client.post(f"{scene.url}/submit", headers=nurse.headers)).json()[
        "code"
    ] == "report_empty"

    # A patient, the ordering doctor: not theirs to write.
    assert (await client.put(scene.url, json={}, headers=scene.patient.headers)).status_code == 404
    await _submitted(scene)
    assert (await client.put(scene.url, json={}, headers=scene.doctor.headers)).status_code == 403
    locked = await client.put(scene.url, json=report_body(), headers=nurse.headers)
    assert (locked.status_code, locked.json()["code"]) == (409, "report_locked")
    unrated = await client.post(
        f"{scene.url}/review", json={"decision": "sign_off"}, headers=scene.doctor.headers
    )
    assert (unrated.status_code, unrated.json()["code"]) == (422, "rating_required")
    empty = await client.post(
        f"{scene.url}/review", json={"decision": "request_changes"}, headers=scene.doctor.headers
    )
    assert (empty.status_code, empty.json()["code"]) == (422, "changes_required")

    # A visit on the way has no report to write; one in progress cannot be submitted yet.
    for status, code in (
        (VisitStatus.en_route, "report_not_writable_now"),
        (VisitStatus.in_progress, "visit_not_completed"),
    ):
        visit_id = await visit_in(database, settings, scene.patient.user, status, nurse=nurse.user)
        url = f"/api/v1/visits/{visit_id}/report"
        if status == VisitStatus.in_progress:
            saved = await client.put(url, json=report_body(), headers=nurse.headers)
            assert saved.status_code == 200, saved.text
            answer = await client.post(f"{url}/submit", headers=nurse.headers)
        else:
            answer = await client.put(url, json=report_body(), headers=nurse.headers)
        assert (answer.status_code, answer.json()["code"]) == (409, code), answer.text


async def test_photos_are_images_listed_downloaded_and_deleted(scene: Scene) -> None:
    client, nurse = scene.client, scene.nurse
    added = await client.post(
        f"{scene.url}/photos",
        files={"file": ("wound.png", files.png(), "image/png")},
        data={"caption": "Left calf, day 3"},
        headers=nurse.headers,
    )
    assert added.status_code == 201, added.text
    photo = added.json()
    assert (photo["content_type"], photo["caption"]) == ("image/png", "Left calf, day 3")
    text = await client.post(
        f"{scene.url}/photos",
        files={"file": ("notes.txt", files.text(), "text/plain")},
        headers=nurse.headers,
    )
    assert (text.status_code, text.json()["code"]) == (422, "photo_not_image")
    listed = (await client.get(scene.url, headers=nurse.headers)).json()
    assert [p["id"] for p in listed["photos"]] == [photo["id"]]
    assert listed["version"] == 1  # the first photo started the report

    download = await client.get(photo["url"], headers=nurse.headers)
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.content.startswith(b"\x89PNG")
    assert (await client.get(photo["url"], headers=scene.patient.headers)).status_code == 404
    assert (
        await _audits(scene.database, nurse.user.id, scene.visit_id, "visit.report.photo_read") == 1
    )

    second = await client.post(
        f"{scene.url}/photos",
        files={"file": ("wound.jpg", files.jpeg(), "image/jpeg")},
        headers=nurse.headers,
    )
    assert second.status_code == 201, second.text
    gone = await client.delete(second.json()["url"], headers=nurse.headers)
    assert gone.status_code == 204
    assert (await client.get(second.json()["url"], headers=nurse.headers)).status_code == 404
    await _submitted(scene)
    locked = await client.delete(photo["url"], headers=nurse.headers)
    assert (locked.status_code, locked.json()["code"]) == (409, "report_locked")


# -- two doctors at once --------------------------------------------------------------------------


@dataclass
class Race:
    client: httpx.AsyncClient
    database: Database
    doctors: list[Person]
    nurse: Person
    visit_id: uuid.UUID


@pytest.fixture
async def race(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Race]:  # migrated
    """An app on its own connection pool (so the requests overlap in the database) and a
    submitted report waiting in the queue; what it commits is deleted afterwards."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        database: Database = app.state.runtime.database
        make, token = user_maker(database), tokens_for(database, settings)
        roles = (Role.patient, Role.nurse, *[Role.doctor] * DOCTORS)
        users = [await make(role) for role in roles]
        try:
            await on_roster(database, users[1])
            visit_id = await visit_in(
                database, settings, users[0], VisitStatus.completed, nurse=users[1]
            )
            people = [Person(user, await token(user)) for user in users]
            url = f"/api/v1/visits/{visit_id}/report"
            saved = await client.put(url, json=report_body(), headers=people[1].headers)
            assert saved.status_code == 200, saved.text
            submitted = await client.post(f"{url}/submit", headers=people[1].headers)
            assert submitted.status_code == 200, submitted.text
            yield Race(client, database, people[2:], people[1], visit_id)
        finally:
            async with database.transaction() as db:
                await db.execute(delete(Visit).where(Visit.patient_id == users[0].id))
                await db.execute(delete(User).where(User.id.in_([u.id for u in users])))


async def test_doctors_signing_off_at_once_leave_one_reviewer(race: Race) -> None:
    url = f"/api/v1/visits/{race.visit_id}/report/review"

    async def sign(doctor: Person) -> httpx.Response:
        return await race.client.post(
            url, json={"decision": "sign_off", "rating": 5}, headers=doctor.headers
        )

    answers = await asyncio.gather(*(sign(doctor) for doctor in race.doctors))
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses[200] == 1, [a.text for a in answers]
    assert sum(statuses.values()) == DOCTORS
    assert set(statuses) <= {200, 404, 409}
    winner = race.doctors[[a.status_code for a in answers].index(200)]
    async with race.database.transaction() as db:
        report = await db.scalar(select(VisitReport).where(VisitReport.visit_id == race.visit_id))
        assert report is not None
        assert (report.reviewer_id, report.status) == (winner.user.id, "signed_off")
        moves = await db.scalar(
            select(func.count())
            .select_from(VisitTransition)
            .where(
                VisitTransition.visit_id == race.visit_id,
                VisitTransition.to_state == VisitStatus.signed_off.value,
            )
        )
        assert moves == 1
