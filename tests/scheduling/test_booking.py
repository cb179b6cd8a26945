"""Booking and the lifecycle through the API: who may do what, slots, conflicts, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import time_machine
from sqlalchemy import func, select

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.scheduling.models import Appointment
from tests.factories import MakeUser
from tests.factories.scheduling import BERLIN, at, book, next_weekday, slots


class TestCallers:
    async def test_anonymous_and_wrong_roles_are_refused(
        self, client, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, doctor_headers = await scheduled_doctor()
        day = next_weekday(1)
        assert (await book(client, {}, doctor.id, at(day, 10))).status_code == 401
        refused = await book(client, doctor_headers, doctor.id, at(day, 10))
        assert refused.status_code == 403
        patient = await token_for(await make_user(Role.patient))
        assert (
            await client.put("/api/v1/doctors/me/schedule", json={}, headers=patient)
        ).status_code == 403
        assert (await client.get("/api/v1/appointments")).status_code == 401

    async def test_someone_elses_appointment_is_not_found_on_every_route(
        self, client, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, _ = await scheduled_doctor()
        owner = await token_for(await make_user(Role.patient))
        stranger = await token_for(await make_user(Role.patient))
        booked = await book(client, owner, doctor.id, at(next_weekday(2), 10))
        assert booked.status_code == 201, booked.text
        appointment = booked.json()["id"]
        assert (
            await client.get(f"/api/v1/appointments/{appointment}", headers=stranger)
        ).status_code == 404
        for action, body in (
            ("cancel", {}),
            ("reschedule", {"starts_at": at(next_weekday(2), 11)}),
        ):
            answer = await client.post(
                f"/api/v1/appointments/{appointment}/{action}", json=body, headers=stranger
            )
            assert answer.status_code == 404, (action, answer.text)
        _other_doctor, other_headers = await scheduled_doctor()
        for action in ("confirm", "start", "complete", "no-show", "cancel"):
            answer = await client.post(
                f"/api/v1/appointments/{appointment}/{action}",
                json={"reason": "x"},
                headers=other_headers,
            )
            assert answer.status_code == 404, (action, answer.text)
        listed = await client.get("/api/v1/appointments", headers=stranger)
        assert listed.json()["items"] == []

    async def test_a_patient_cannot_confirm_start_or_complete(
        self, client, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, _ = await scheduled_doctor()
        patient = await token_for(await make_user(Role.patient))
        appointment = (await book(client, patient, doctor.id, at(next_weekday(2), 9))).json()["id"]
        for action in ("confirm", "start", "complete", "no-show"):
            answer = await client.post(
                f"/api/v1/appointments/{appointment}/{action}", headers=patient
            )
            assert answer.status_code == 403, (action, answer.text)


class TestBooking:
    async def test_book_read_and_the_slot_is_gone(
        self, client, database: Database, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, doctor_headers = await scheduled_doctor()
        patient_user = await make_user(Role.patient)
        patient = await token_for(patient_user)
        day = next_weekday(3)
        before = await slots(client, doctor.id, patient, day=day)
        assert before["time_zone"] == "Europe/Berlin"
        assert len(before["slots"]) == 16  # 09:00-17:00 in 30 minutes
        first = before["slots"][0]["starts_at"]
        assert datetime.fromisoformat(first).astimezone(BERLIN).time() == time(9, 0)

        booked = await book(client, patient, doctor.id, first, reason="Persistent cough")
        assert booked.status_code == 201, booked.text
        body = booked.json()
        assert body["status"] == "scheduled"  # offline payment: confirmed at once
        assert body["reason"] == "Persistent cough"
        after = await slots(client, doctor.id, patient, day=day)
        assert first not in [s["starts_at"] for s in after["slots"]]
        assert len(after["slots"]) == 15

        # The doctor sees it, with the reason; the reason is stored encrypted.
        seen = await client.get(f"/api/v1/appointments/{body['id']}", headers=doctor_headers)
        assert seen.json()["reason"] == "Persistent cough"
        async with database.transaction() as db:
            row = await db.get(Appointment, body["id"])
            assert row is not None
            assert row.reason_sealed is not None
            assert b"Persistent cough" not in row.reason_sealed
            told = await db.scalar(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.recipient_id == doctor.id,
                    Notification.kind == "appointment_changed",
                )
            )
            assert told == 1
            audited = await db.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.resource_id == body["id"],
                    AuditEvent.action == "appointment.reason_read",
                )
            )
            assert audited == 1  # the doctor's read (the booking echoes what the patient sent)

    async def test_overlapping_slots_of_different_lengths_conflict(
        self, client, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, _ = await scheduled_doctor()
        first = await token_for(await make_user(Role.patient))
        second = await token_for(await make_user(Role.patient))
        day = next_weekday(4)
        # A 60-minute visit at 09:00 with a 15-minute pause holds 09:00-10:15.
        held = await book(client, first, doctor.id, at(day, 9), kind="in_person")
        assert held.status_code == 201, held.text
        video = [s["starts_at"] for s in (await slots(client, doctor.id, second, day=day))["slots"]]
        offered = [datetime.fromisoformat(v) for v in video]
        for blocked in (at(day, 9), at(day, 9, 30), at(day, 10)):
            assert datetime.fromisoformat(blocked) not in offered
        assert datetime.fromisoformat(at(day, 10, 30)) in offered
        taken = await book(client, second, doctor.id, at(day, 9, 30))
        assert taken.status_code == 409
        assert taken.json()["code"] == "slot_taken"
        assert (await book(client, second, doctor.id, at(day, 10, 30))).status_code == 201

    async def test_a_time_that_is_not_a_slot_is_refused(
        self, client, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, _ = await scheduled_doctor()
        patient = await token_for(await make_user(Role.patient))
        day = next_weekday(1)
        for starts_at, code in (
            (at(day, 9, 10), "not_a_slot"),
            (at(day, 20), "not_a_slot"),
            ((datetime.now(UTC) - timedelta(days=1)).isoformat(), "not_a_slot"),
        ):
            answer = await book(client, patient, doctor.id, starts_at)
            assert answer.status_code == 422, answer.text
            assert answer.json()["code"] == code
        naive = await book(client, patient, doctor.id, "2030-01-01T10:00:00")
        assert naive.status_code == 422
        unknown = await book(client, patient, "00000000-0000-4000-8000-000000000000", at(day, 10))
        assert unknown.status_code == 404
        chat = await book(client, patient, doctor.id, at(day, 10), kind="chat")
        assert chat.json()["code"] == "no_such_type"

    async def test_idempotency_key_answers_the_first_result(
        self, client, database: Database, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, _ = await scheduled_doctor()
        patient = await token_for(await make_user(Role.patient))
        day = next_weekday(5)
        first = await book(client, patient, doctor.id, at(day, 14), key="k-1")
        again = await book(client, patient, doctor.id, at(day, 14), key="k-1")
        assert first.status_code == 201
        assert again.status_code == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        changed = await book(client, patient, doctor.id, at(day, 15), key="k-1")
        assert changed.status_code == 422
        assert changed.json()["code"] == "idempotency_key_reused"
        async with database.transaction() as db:
            count = await db.scalar(
                select(func.count())
                .select_from(Appointment)
                .where(Appointment.doctor_id == doctor.id)
            )
        assert count == 1

    async def test_a_patient_holds_at_most_the_configured_number(
        self, client, settings, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, _ = await scheduled_doctor()
        patient = await token_for(await make_user(Role.patient))
        day = next_weekday(0)
        cap = settings.max_future_appointments
        for n in range(cap):
            assert (await book(client, patient, doctor.id, at(day, 9 + n))).status_code == 201
        over = await book(client, patient, doctor.id, at(day, 9 + cap))
        assert over.status_code == 409
        assert over.json()["code"] == "too_many_appointments"

    async def test_time_off_and_extra_hours(
        self, client, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, headers = await scheduled_doctor()
        patient = await token_for(await make_user(Role.patient))
        day = next_weekday(2, weeks_ahead=3)
        off = await client.post(
            "/api/v1/doctors/me/exceptions",
            json={"kind": "time_off", "date": day.isoformat(), "starts": "09:00", "ends": "12:00"},
            headers=headers,
        )
        assert off.status_code == 201, off.text
        extra = await client.post(
            "/api/v1/doctors/me/exceptions",
            json={
                "kind": "extra_hours",
                "date": day.isoformat(),
                "starts": "18:00",
                "ends": "19:00",
            },
            headers=headers,
        )
        assert extra.status_code == 201
        local = [
            datetime.fromisoformat(s["starts_at"]).astimezone(BERLIN).strftime("%H:%M")
            for s in (await slots(client, doctor.id, patient, day=day))["slots"]
        ]
        assert local[0] == "12:00"
        assert local[-2:] == ["18:00", "18:30"]
        assert "16:30" in local
        listed = await client.get("/api/v1/doctors/me/exceptions", headers=headers)
        assert len(listed.json()) == 2
        gone = await client.delete(
            f"/api/v1/doctors/me/exceptions/{off.json()['id']}", headers=headers
        )
        assert gone.status_code == 204
        local = [
            datetime.fromisoformat(s["starts_at"]).astimezone(BERLIN).strftime("%H:%M")
            for s in (await slots(client, doctor.id, patient, day=day))["slots"]
        ]
        assert local[0] == "09:00"
        bad = await client.post(
            "/api/v1/doctors/me/exceptions",
            json={"kind": "extra_hours", "date": day.isoformat()},
            headers=headers,
        )
        assert bad.status_code == 422

    async def test_bad_schedules_and_ranges_are_422(self, client, scheduled_doctor) -> None:
        doctor, headers = await scheduled_doctor()
        overlapping = {
            "time_zone": "Europe/Berlin",
            "windows": [
                {"weekday": 0, "starts": "09:00", "ends": "12:00"},
                {"weekday": 0, "starts": "11:00", "ends": "13:00"},
            ],
            "types": [{"type": "video", "duration_minutes": 30}],
        }
        for body in (
            overlapping,
            {**overlapping, "windows": [], "time_zone": "Mars/Olympus"},
            {**overlapping, "windows": [], "types": []},
            {**overlapping, "windows": [{"weekday": 7, "starts": "09:00", "ends": "10:00"}]},
            {**overlapping, "windows": [{"weekday": 1, "starts": "10:00", "ends": "09:00"}]},
        ):
            answer = await client.put("/api/v1/doctors/me/schedule", json=body, headers=headers)
            assert answer.status_code == 422, body
        day = next_weekday(1)
        too_long = await client.get(
            f"/api/v1/doctors/{doctor.id}/slots",
            params={"from": at(day, 0), "to": at(day + timedelta(days=40), 0)},
            headers=headers,
        )
        assert too_long.status_code == 422
        assert too_long.json()["code"] == "range_too_long"


class TestLifecycle:
    async def test_doctor_runs_an_appointment_and_wrong_moves_are_409(
        self, client, database: Database, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, doctor_headers = await scheduled_doctor()
        patient_user = await make_user(Role.patient)
        patient = await token_for(patient_user)
        appointment = (await book(client, patient, doctor.id, at(next_weekday(3), 16))).json()["id"]
        url = f"/api/v1/appointments/{appointment}"
        early = await client.post(f"{url}/complete", headers=doctor_headers)
        assert early.status_code == 409
        assert early.json()["code"] == "invalid_transition"
        assert early.json()["current_status"] == "scheduled"
        assert (await client.post(f"{url}/no-show", headers=doctor_headers)).json()[
            "code"
        ] == "too_early"
        starts = datetime.fromisoformat(at(next_weekday(3), 16))
        with time_machine.travel(starts - timedelta(minutes=5), tick=True):
            doctor_headers = await token_for(doctor)
            assert (await client.post(f"{url}/start", headers=doctor_headers)).json()[
                "status"
            ] == "in_progress"
            assert (await client.post(f"{url}/start", headers=doctor_headers)).status_code == 409
            done = await client.post(f"{url}/complete", headers=doctor_headers)
            assert done.json()["status"] == "completed"
            late = await client.post(f"{url}/cancel", json={"reason": "x"}, headers=doctor_headers)
        assert late.status_code == 409
        assert late.json()["current_status"] == "completed"
        async with database.transaction() as db:
            kinds = list(
                await db.scalars(
                    select(Notification.title).where(Notification.recipient_id == patient_user.id)
                )
            )
            actions = set(
                await db.scalars(
                    select(AuditEvent.action).where(AuditEvent.resource_id == appointment)
                )
            )
        assert "Appointment completed" in kinds
        assert {"appointment.booked", "appointment.start", "appointment.complete"} <= actions

    async def test_cancel_rules(
        self, client, settings, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, doctor_headers = await scheduled_doctor()
        patient = await token_for(await make_user(Role.patient))
        day = next_weekday(1)
        one = (await book(client, patient, doctor.id, at(day, 9))).json()["id"]
        two = (await book(client, patient, doctor.id, at(day, 10))).json()["id"]
        without_reason = await client.post(
            f"/api/v1/appointments/{one}/cancel", headers=doctor_headers
        )
        assert without_reason.status_code == 422
        assert without_reason.json()["code"] == "reason_required"
        by_doctor = await client.post(
            f"/api/v1/appointments/{one}/cancel", json={"reason": "Unwell"}, headers=doctor_headers
        )
        assert by_doctor.json()["status"] == "cancelled"
        assert by_doctor.json()["cancel_reason"] == "Unwell"
        by_patient = await client.post(f"/api/v1/appointments/{two}/cancel", headers=patient)
        assert by_patient.json()["status"] == "cancelled"
        # The slot is free again.
        again = await book(client, patient, doctor.id, at(day, 9))
        assert again.status_code == 201

    async def test_patient_cannot_cancel_or_move_after_the_cutoff(
        self, client, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, _ = await scheduled_doctor()
        patient = await token_for(await make_user(Role.patient))
        # The next slot within the 24-hour cutoff (the doctor works 9 to 17 every day), whatever
        # the time of day the test runs at.
        now = datetime.now(UTC)
        soon = await client.get(
            f"/api/v1/doctors/{doctor.id}/slots",
            params={
                "type": "video",
                "from": now.isoformat(),
                "to": (now + timedelta(hours=23)).isoformat(),
            },
            headers=patient,
        )
        assert soon.status_code == 200, soon.text
        starts_at = soon.json()["slots"][0]["starts_at"]
        appointment = (await book(client, patient, doctor.id, starts_at)).json()["id"]
        refused = await client.post(f"/api/v1/appointments/{appointment}/cancel", headers=patient)
        assert refused.status_code == 409
        assert refused.json()["code"] == "too_late"

    async def test_reschedule_moves_the_slot(
        self, client, scheduled_doctor, token_for, make_user: MakeUser
    ) -> None:
        doctor, _ = await scheduled_doctor()
        patient = await token_for(await make_user(Role.patient))
        other = await token_for(await make_user(Role.patient))
        day = next_weekday(4, weeks_ahead=2)
        appointment = (await book(client, patient, doctor.id, at(day, 9))).json()["id"]
        assert (await book(client, other, doctor.id, at(day, 10))).status_code == 201
        taken = await client.post(
            f"/api/v1/appointments/{appointment}/reschedule",
            json={"starts_at": at(day, 10)},
            headers=patient,
        )
        assert taken.status_code == 409
        assert taken.json()["code"] == "slot_taken"
        # Overlapping its own old time is fine: the appointment does not block itself.
        moved = await client.post(
            f"/api/v1/appointments/{appointment}/reschedule",
            json={"starts_at": at(day, 9, 30)},
            headers=patient,
        )
        assert moved.status_code == 200, moved.text
        assert datetime.fromisoformat(moved.json()["starts_at"]) == datetime.fromisoformat(
            at(day, 9, 30)
        )
        assert (await book(client, other, doctor.id, at(day, 9))).status_code == 201
