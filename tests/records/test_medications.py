"""The medication list, its doses and adherence, and adding an issued prescription to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from carebridge.records.medication_doses import adherence_rate
from carebridge.records.medication_schedule import ends_on_for, times_for
from carebridge.records.models import Medication
from tests.factories.prescriptions import Consultation, Json, MakeConsultation
from tests.factories.records import RECORD_CANARY
from tests.factories.users import Person

MEDS = "/api/v1/records/medications"
MakePerson = Callable[..., Awaitable[Person]]


def today() -> date:
    return datetime.now(UTC).date()  # the patients of these tests keep UTC


def days_ago(n: int) -> str:
    return (today() - timedelta(days=n)).isoformat()


async def add(client: httpx.AsyncClient, who: Person, **overrides: Any) -> Json:
    body: Json = {
        "name": "Metformin 500 mg",
        "dose": "1 tablet",
        "route": "oral",
        "times": ["08:00"],
        "starts_on": days_ago(10),
        "instructions": f"with breakfast {RECORD_CANARY}",
    }
    body.update(overrides)
    answer = await client.post(MEDS, json=body, headers=who.headers)
    assert answer.status_code == 201, answer.text
    result: Json = answer.json()
    return result


async def mark(
    client: httpx.AsyncClient, who: Person, medication: Json, day: str, at: str, status: str
) -> httpx.Response:
    return await client.post(
        f"{MEDS}/{medication['id']}/doses",
        json={"local_date": day, "local_time": at, "status": status},
        headers=who.headers,
    )


class TestRefused:
    async def test_anonymous_wrong_role_and_someone_elses(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        owner, other, doctor = await person(), await person(), await person(Role.doctor)
        medication = await add(client, owner)
        one = f"{MEDS}/{medication['id']}"
        assert (await client.get(MEDS)).status_code == 401
        assert (await client.get(MEDS, headers=doctor.headers)).json()["code"] == "wrong_role"
        dose = {"local_date": days_ago(1), "local_time": "08:00", "status": "taken"}
        for method, path, body in (
            ("GET", one, None),
            ("PATCH", one, {"dose": "2 tablets"}),
            ("POST", f"{one}/stop", None),
            ("DELETE", one, None),
            ("POST", f"{one}/doses", dose),
        ):
            answer = await client.request(method, path, json=body, headers=other.headers)
            assert answer.status_code == 404, (method, path, answer.text)
            assert RECORD_CANARY not in answer.text
        listed = await client.get(MEDS, headers=other.headers)
        assert listed.json()["items"] == []
        today_doses = await client.get(f"{MEDS}/today", headers=other.headers)
        assert today_doses.json()["doses"] == []


class TestTheList:
    async def test_add_read_and_the_instructions_are_sealed(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        owner = await person()
        made = await add(client, owner, times=["20:00", "08:00"], weekdays=[5, 1, 1])
        assert made["times"] == ["08:00", "20:00"]
        assert made["weekdays"] == [1, 5]
        assert made["active"] is True
        assert made["instructions"] == f"with breakfast {RECORD_CANARY}"
        assert made["recorded_by_id"] == str(owner.user.id)
        read = await client.get(f"{MEDS}/{made['id']}", headers=owner.headers)
        assert read.status_code == 200
        assert read.json()["name"] == "Metformin 500 mg"
        async with database.transaction() as db:
            row = await db.scalar(select(Medication).where(Medication.id == made["id"]))
        assert row is not None
        assert row.instructions_sealed is not None
        assert RECORD_CANARY.encode() not in row.instructions_sealed

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"starts_on": days_ago(1), "ends_on": days_ago(2)}, "ends_before_start"),
            ({"times": ["08:00:30"]}, "validation_error"),
            ({"times": [f"{h:02}:00" for h in range(13)]}, "validation_error"),
            ({"weekdays": [8]}, "validation_error"),
            ({"name": "   "}, "validation_error"),
            ({"patient_id": "8d3c1f0e-6f5a-4b8e-9b1e-1a2b3c4d5e6f"}, "validation_error"),
        ],
    )
    async def test_bad_input_is_refused_and_nothing_written(
        self, client: httpx.AsyncClient, person: MakePerson, overrides: Json, code: str
    ) -> None:
        owner = await person()
        body = {"name": "Metformin", "times": ["08:00"], **overrides}
        answer = await client.post(MEDS, json=body, headers=owner.headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == code
        assert (await client.get(MEDS, headers=owner.headers)).json()["items"] == []

    async def test_active_first_then_stopped_or_ended_with_the_filter_and_pages(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        owner = await person()
        ended = await add(client, owner, name="Ended", ends_on=days_ago(1))
        first = await add(client, owner, name="First")
        stopped = await add(client, owner, name="Stopped")
        second = await add(client, owner, name="Second")
        stop = await client.post(f"{MEDS}/{stopped['id']}/stop", headers=owner.headers)
        assert stop.json()["active"] is False
        listed = await client.get(MEDS, headers=owner.headers)
        names = [m["name"] for m in listed.json()["items"]]
        # Within a run newest first: here one test transaction, so one created_at (then by id).
        assert [set(names[:2]), set(names[2:])] == [{"Second", "First"}, {"Stopped", "Ended"}]
        paged, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
            page = (await client.get(MEDS, params=params, headers=owner.headers)).json()
            paged += [m["name"] for m in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert paged == names
        active = await client.get(MEDS, params={"active": "true"}, headers=owner.headers)
        assert {m["id"] for m in active.json()["items"]} == {second["id"], first["id"]}
        inactive = await client.get(MEDS, params={"active": "false"}, headers=owner.headers)
        assert {m["id"] for m in inactive.json()["items"]} == {stopped["id"], ended["id"]}
        bad = await client.get(MEDS, params={"cursor": "x.abc"}, headers=owner.headers)
        assert bad.status_code == 422

    async def test_patch_stop_and_delete(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        owner = await person()
        made = await add(client, owner, ends_on=(today() + timedelta(days=5)).isoformat())
        one = f"{MEDS}/{made['id']}"
        patched = await client.patch(
            one,
            json={"dose": "2 tablets", "times": ["09:30"], "ends_on": None, "reminders": False},
            headers=owner.headers,
        )
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert (body["dose"], body["times"], body["ends_on"], body["reminders"]) == (
            "2 tablets",
            ["09:30"],
            None,
            False,
        )
        cleared = await client.patch(one, json={"name": None}, headers=owner.headers)
        assert cleared.json()["code"] == "required_field"
        backwards = await client.patch(one, json={"ends_on": days_ago(20)}, headers=owner.headers)
        assert backwards.json()["code"] == "ends_before_start"
        stopped = await client.post(f"{one}/stop", headers=owner.headers)
        again = await client.post(f"{one}/stop", headers=owner.headers)
        assert stopped.json()["stopped_at"] is not None
        assert again.json()["stopped_at"] == stopped.json()["stopped_at"]
        assert (await client.delete(one, headers=owner.headers)).status_code == 204
        assert (await client.get(one, headers=owner.headers)).status_code == 404
        async with database.transaction() as db:
            changes = (
                await db.scalars(
                    select(AuditEvent.details).where(
                        AuditEvent.action == "record.write",
                        AuditEvent.resource_id == str(owner.user.id),
                    )
                )
            ).all()
        assert [d["change"] for d in changes] == ["create", "update", "stop", "delete"]
        assert all(d["section"] == "medications" for d in changes)


class TestDoses:
    async def test_mark_a_dose_and_mark_it_again(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        owner = await person()
        made = await add(client, owner, times=["08:00", "20:00"])
        taken = await mark(client, owner, made, days_ago(1), "20:00", "taken")
        assert taken.status_code == 200, taken.text
        assert taken.json()["status"] == "taken"
        assert taken.json()["local_time"] == "20:00"
        changed = await mark(client, owner, made, days_ago(1), "20:00", "skipped")
        assert changed.json()["status"] == "skipped"
        assert changed.json()["due_at"] == taken.json()["due_at"]
        day = await client.get(f"{MEDS}/today", params={"date": days_ago(1)}, headers=owner.headers)
        assert [(d["local_time"], d["status"]) for d in day.json()["doses"]] == [
            ("08:00", "missed"),
            ("20:00", "skipped"),
        ]

    @pytest.mark.parametrize(
        ("day", "at", "code"),
        [
            (1, "09:00", "not_a_dose"),  # not one of its times
            (11, "08:00", "not_a_dose"),  # before it starts
            (3, "08:00", "not_a_dose"),  # after its last day
            (-1, "08:00", "dose_in_future"),  # tomorrow
        ],
    )
    async def test_a_dose_outside_the_schedule_is_refused(
        self, client: httpx.AsyncClient, person: MakePerson, day: int, at: str, code: str
    ) -> None:
        owner = await person()
        made = await add(client, owner, ends_on=(today() + timedelta(days=5)).isoformat())
        if day == 3:
            made = await add(client, owner, ends_on=days_ago(4))
        answer = await mark(client, owner, made, days_ago(day), at, "taken")
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == code

    async def test_a_dose_on_a_day_it_is_not_taken_is_refused(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        owner = await person()
        yesterday = today() - timedelta(days=1)
        other_day = yesterday.isoweekday() % 7 + 1
        made = await add(client, owner, weekdays=[other_day])
        answer = await mark(client, owner, made, yesterday.isoformat(), "08:00", "taken")
        assert answer.json()["code"] == "not_a_dose"

    async def test_todays_doses(self, client: httpx.AsyncClient, person: MakePerson) -> None:
        owner = await person()
        made = await add(client, owner, times=["00:00", "23:59"])
        await add(client, owner, name="Weekly", weekdays=[today().isoweekday() % 7 + 1])
        now = datetime.now(UTC)
        taken = await mark(client, owner, made, today().isoformat(), "23:59", "taken")
        assert taken.status_code == 200, taken.text  # today's later dose, taken early
        answer = await client.get(f"{MEDS}/today", headers=owner.headers)
        assert answer.status_code == 200
        day = answer.json()
        assert (day["date"], day["time_zone"]) == (today().isoformat(), "UTC")
        midnight = (
            "due"
            if now - datetime.combine(today(), time(0), UTC) < timedelta(hours=2)
            else "missed"
        )
        assert [(d["local_time"], d["status"]) for d in day["doses"]] == [
            ("00:00", midnight),
            ("23:59", "taken"),
        ]


class TestAdherence:
    async def test_taken_over_scheduled_past_slots_unmarked_ones_missed(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        owner = await person()
        daily = await add(client, owner, starts_on=days_ago(10), ends_on=days_ago(1))
        for n in range(1, 8):
            answer = await mark(
                client, owner, daily, days_ago(n), "08:00", "taken" if n < 7 else "skipped"
            )
            assert answer.status_code == 200, answer.text
        short = await add(
            client, owner, times=["08:00", "20:00"], starts_on=days_ago(2), ends_on=days_ago(1)
        )
        for n in (1, 2):
            for at in ("08:00", "20:00"):
                assert (
                    await mark(client, owner, short, days_ago(n), at, "taken")
                ).status_code == 200
        read = await client.get(f"{MEDS}/{daily['id']}", headers=owner.headers)
        adherence = read.json()["adherence"]
        assert {k: adherence[k] for k in ("rate", "taken", "skipped", "missed", "scheduled")} == {
            "rate": 0.6,
            "taken": 6,
            "skipped": 1,
            "missed": 3,
            "scheduled": 10,
        }
        now = datetime.now(UTC)
        async with database.transaction() as db:
            rate = await adherence_rate(db, owner.user.id, now - timedelta(days=30), now)
            nothing = await adherence_rate(
                db, owner.user.id, now - timedelta(days=60), now - timedelta(days=40)
            )
        assert rate == pytest.approx(10 / 14)
        assert nothing is None


class TestFromPrescription:
    async def test_an_issued_prescription_is_added_once(
        self,
        client: httpx.AsyncClient,
        consultation: MakeConsultation,
        issued: Callable[..., Awaitable[Json]],
        person: MakePerson,
    ) -> None:
        visit: Consultation = await consultation("completed")
        prescription = await issued(visit, render=False)
        body = {"prescription_id": prescription["id"]}
        path = f"{MEDS}/from-prescription"
        stranger = await person()
        assert (await client.post(path, json=body)).status_code == 401
        refused = await client.post(path, json=body, headers=visit.doctor.headers)
        assert refused.status_code == 403
        assert (await client.post(path, json=body, headers=stranger.headers)).status_code == 404
        first = await client.post(path, json=body, headers=visit.patient.headers)
        assert first.status_code == 201, first.text
        added = first.json()
        assert added["added"] == 2
        amoxicillin, paracetamol = added["items"]
        assert amoxicillin["name"] == "Amoxicillin 500 mg"
        assert amoxicillin["times"] == ["08:00", "14:00", "20:00"]  # "three times a day"
        assert amoxicillin["ends_on"] == (today() + timedelta(days=6)).isoformat()  # 7 days
        assert amoxicillin["prescribed_by_id"] == str(visit.doctor.user.id)
        assert amoxicillin["prescription_id"] == prescription["id"]
        assert amoxicillin["prescription_line_id"] is not None
        assert amoxicillin["instructions"] == "Take with food."
        assert amoxicillin["schedule_note"] is None
        assert paracetamol["times"] == []
        assert paracetamol["schedule_note"] is not None
        again = await client.post(path, json=body, headers=visit.patient.headers)
        assert again.status_code == 200, again.text
        assert again.json()["added"] == 0
        assert [m["id"] for m in again.json()["items"]] == [amoxicillin["id"], paracetamol["id"]]
        listed = await client.get(MEDS, headers=visit.patient.headers)
        assert len(listed.json()["items"]) == 2

    async def test_a_draft_is_not_found_and_a_cancelled_one_conflicts(
        self,
        client: httpx.AsyncClient,
        consultation: MakeConsultation,
        write: Callable[..., Awaitable[Json]],
        issued: Callable[..., Awaitable[Json]],
    ) -> None:
        visit = await consultation("completed")
        path = f"{MEDS}/from-prescription"
        draft = await write(visit)
        answer = await client.post(
            path, json={"prescription_id": draft["id"]}, headers=visit.patient.headers
        )
        assert answer.status_code == 404
        cancelled = await issued(visit, render=False)
        cancel = await client.post(
            f"/api/v1/prescriptions/{cancelled['id']}/cancel",
            json={"reason": "Written in error"},
            headers=visit.doctor.headers,
        )
        assert cancel.status_code == 200, cancel.text
        answer = await client.post(
            path, json={"prescription_id": cancelled["id"]}, headers=visit.patient.headers
        )
        assert answer.status_code == 409
        assert answer.json()["code"] == "prescription_cancelled"
        assert (await client.get(MEDS, headers=visit.patient.headers)).json()["items"] == []


class TestClinicianReads:
    async def test_a_doctor_in_care_reads_audited_others_do_not(
        self,
        client: httpx.AsyncClient,
        consultation: MakeConsultation,
        person: MakePerson,
        database: Database,
    ) -> None:
        visit = await consultation("completed")
        made = await add(client, visit.patient)
        base = f"/api/v1/patients/{visit.patient.user.id}/records/medications"
        stranger = await person(Role.doctor)
        assert (await client.get(base, headers=stranger.headers)).status_code == 404
        assert (await client.get(base, headers=visit.patient.headers)).status_code == 403
        listed = await client.get(base, headers=visit.doctor.headers)
        assert listed.status_code == 200, listed.text
        assert [m["id"] for m in listed.json()["items"]] == [made["id"]]
        one = await client.get(f"{base}/{made['id']}", headers=visit.doctor.headers)
        assert one.json()["instructions"] == made["instructions"]
        async with database.transaction() as db:
            reads = (
                await db.scalars(
                    select(AuditEvent.details).where(
                        AuditEvent.action == "record.read",
                        AuditEvent.outcome == "success",  # refused opens are on the trail too
                        AuditEvent.resource_id == str(visit.patient.user.id),
                    )
                )
            ).all()
        assert [(d["section"], d["basis"]) for d in reads] == [("medications", "care")] * 2


@pytest.mark.parametrize(
    ("frequency", "times"),
    [
        ("once a day", ["08:00"]),
        ("Twice daily", ["08:00", "20:00"]),
        ("2 times per day", ["08:00", "20:00"]),
        ("three times a day", ["08:00", "14:00", "20:00"]),
        ("every 8 hours", ["06:00", "14:00", "22:00"]),
        ("as needed for pain", []),
        (None, []),
    ],
)
def test_times_of_day_from_a_frequency(frequency: str | None, times: list[str]) -> None:
    assert [f"{t:%H:%M}" for t in times_for(frequency)] == times


def test_the_last_day_of_a_course() -> None:
    start = date(2026, 12, 7)
    assert ends_on_for(start, "7 days") == date(2026, 12, 13)
    assert ends_on_for(start, "for 2 weeks") == date(2026, 12, 20)
    assert ends_on_for(start, "until finished") is None
