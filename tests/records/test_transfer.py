"""CSV import of observations and CSV export of each section: the round trip, the report of the
rows left out, a malformed file that writes nothing, the callers refused, one audit row each."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.records import sealed
from carebridge.records.models import (
    Allergy,
    Condition,
    Immunization,
    Medication,
    Observation,
    Symptom,
)
from tests.factories.records import RECORD_CANARY, add_observation
from tests.factories.users import Person

MakePerson = Callable[..., Awaitable[Person]]
HEADER = "kind,value,value2,unit,measured_at,note\n"
IMPORT = "/api/v1/records/import"


def csv_file(text: str | bytes, name: str = "readings.csv") -> dict[str, Any]:
    data = text.encode() if isinstance(text, str) else text
    return {"file": (name, data, "text/csv")}


async def imported(client: httpx.AsyncClient, patient: Person, text: str | bytes) -> httpx.Response:
    return await client.post(IMPORT, files=csv_file(text), headers=patient.headers)


async def observations_of(database: Database, patient_id: uuid.UUID) -> list[Observation]:
    async with database.transaction() as db:
        return list(
            await db.scalars(
                select(Observation)
                .where(Observation.patient_id == patient_id)
                .order_by(Observation.measured_at)
            )
        )


async def audit_rows(database: Database, patient_id: uuid.UUID, action: str) -> list[AuditEvent]:
    async with database.transaction() as db:
        return list(
            await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.resource_id == str(patient_id), AuditEvent.action == action
                )
            )
        )


def rows_of(answer: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(answer.text)))


class TestRefused:
    async def test_anonymous_and_clinicians(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        doctor = await person(Role.doctor)
        body = HEADER + "heart_rate,70,,,2026-01-01T08:00:00+00:00,\n"
        assert (await client.post(IMPORT, files=csv_file(body))).status_code == 401
        answer = await client.post(IMPORT, files=csv_file(body), headers=doctor.headers)
        assert answer.status_code == 403
        path = "/api/v1/records/export?section=observations"
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers=doctor.headers)).status_code == 403

    async def test_an_unknown_section(self, client: httpx.AsyncClient, person: MakePerson) -> None:
        patient = await person(Role.patient)
        for section in ("documents", "grants", ""):
            answer = await client.get(
                f"/api/v1/records/export?section={section}", headers=patient.headers
            )
            assert answer.status_code == 422, section


class TestImport:
    async def test_valid_rows_are_written_and_the_others_reported(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        patient = await person(Role.patient)
        text = HEADER + "\n".join(
            [
                "blood_pressure,16,10.7,kPa,2026-01-02T07:30:00+01:00,morning",  # 120/80
                "heart_rate,700,,,2026-01-02T07:31:00+01:00,",  # impossible
                "pulse,70,,,2026-01-02T07:32:00+01:00,",  # unknown kind
                "body_weight,70,,stone,2026-01-02T07:33:00+01:00,",  # unknown unit
                "body_weight,seventy,,kg,2026-01-02T07:34:00+01:00,",  # not a number
                "body_weight,70,,kg,2026-01-02 07:35,",  # no offset
                "body_weight,70,,kg,yesterday,",  # not a time
                "blood_pressure,120,,,2026-01-02T07:36:00Z,",  # no diastolic
                "bmi,22,,,2026-01-02T07:37:00Z,",  # derived
                "",
                f"body_temperature,98.6,,[degF],2026-01-02T08:00:00Z,{RECORD_CANARY}",
                f"heart_rate,60,,,{(datetime.now(UTC) + timedelta(days=1)).isoformat()},",
            ]
        )
        answer = await imported(client, patient, text)
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["imported"] == 2
        assert [(r["line"], r["code"]) for r in report["rejected"]] == [
            (3, "impossible_value"),
            (4, "unknown_kind"),
            (5, "unknown_unit"),
            (6, "bad_number"),
            (7, "bad_time"),
            (8, "bad_time"),
            (9, "value2_required"),
            (10, "derived_kind"),
            (13, "measured_in_future"),
        ]
        assert all(r["reason"] for r in report["rejected"])
        rows = await observations_of(database, patient.user.id)
        assert [(r.kind, r.value, r.value2, r.source, r.entered_unit) for r in rows] == [
            ("blood_pressure", 120, 80, "import", "kPa"),
            ("body_temperature", 37.0, None, "import", "[degF]"),
        ]
        assert rows[0].measured_at == datetime(2026, 1, 2, 6, 30, tzinfo=UTC)
        assert rows[1].note_sealed is not None
        assert RECORD_CANARY.encode() not in rows[1].note_sealed
        (audited,) = await audit_rows(database, patient.user.id, "record.write")
        assert (audited.details["change"], audited.details["rows"]) == ("import", 2)

    @pytest.mark.parametrize(
        ("content", "code"),
        [
            (b"\xff\xfekind,value\n", "import_not_utf8"),
            (b"", "import_empty"),
            (b"kind,value,unit,measured_at\nheart_rate,70,,2026-01-01\n", "import_bad_header"),
            (b"date,steps\n2026-01-01,5000\n", "import_bad_header"),
            (
                (HEADER + "heart_rate,70,,,2026-01-01T08:00Z,\nheart_rate,7,,2026-01-01T09:00Z,\n")
                .encode(),
                "import_bad_line",
            ),
            ((HEADER + 'heart_rate,70,,,2026-01-01T08:00:00Z,"open\n').encode(), "import_not_csv"),
            (b"%PDF-1.7\n\x00\x01\x02binary", "import_not_csv"),
            (
                (HEADER + "heart_rate,70,,,2026-01-01T08:00:00Z,\n" * 20_001).encode(),
                "import_too_many_rows",
            ),
        ],
    )  # fmt: skip
    async def test_a_malformed_file_writes_nothing(
        self,
        client: httpx.AsyncClient,
        person: MakePerson,
        database: Database,
        content: bytes,
        code: str,
    ) -> None:
        patient = await person(Role.patient)
        answer = await imported(client, patient, content)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == code
        assert await observations_of(database, patient.user.id) == []
        assert await audit_rows(database, patient.user.id, "record.write") == []

    async def test_a_bad_line_is_named(self, client: httpx.AsyncClient, person: MakePerson) -> None:
        patient = await person(Role.patient)
        text = HEADER + "heart_rate,70,,,2026-01-01T08:00:00Z,\nheart_rate,70\n"
        problem = (await imported(client, patient, text)).json()
        assert (problem["code"], problem["line"]) == ("import_bad_line", 3)

    async def test_a_file_too_large(self, client: httpx.AsyncClient, person: MakePerson) -> None:
        patient = await person(Role.patient)
        answer = await imported(client, patient, HEADER + "x" * (2 * 1024 * 1024))
        assert answer.status_code == 413
        assert answer.json()["code"] == "import_too_large"


class TestExport:
    async def test_observations_round_trip(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        patient = await person(Role.patient)
        at = "2026-01-05T10:00:00+00:00"
        await add_observation(client, patient.headers, value=72, measured_at=at)
        await add_observation(
            client, patient.headers, kind="blood_pressure", value=125, value2=81,
            measured_at="2026-01-06T10:00:00+02:00", note="=cmd|' /C calc'!A0, \"quoted\"",
        )  # fmt: skip
        await add_observation(
            client, patient.headers, kind="body_weight", value=154.5, unit="[lb_av]",
            measured_at="2026-01-07T10:00:00Z", note=None,
        )  # fmt: skip
        answer = await client.get(
            "/api/v1/records/export?section=observations", headers=patient.headers
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        assert "carebridge-observations-" in answer.headers["content-disposition"]
        exported = rows_of(answer)
        assert [r["kind"] for r in exported] == ["heart_rate", "blood_pressure", "body_weight"]
        assert exported[1]["note"].startswith("'=")  # not run as a formula
        assert exported[0]["note"].endswith(RECORD_CANARY)

        again = await person(Role.patient)
        report = (await imported(client, again, answer.content)).json()
        assert report == {"imported": 3, "rejected": []}

        def kept(rows: list[Observation]) -> list[tuple[Any, ...]]:
            return [(r.kind, r.value, r.value2, r.unit, r.flag, r.measured_at) for r in rows]

        first = await observations_of(database, patient.user.id)
        second = await observations_of(database, again.user.id)
        assert kept(second) == kept(first)
        scope_notes = [
            (await client.get("/api/v1/records/observations", headers=p.headers)).json()["items"]
            for p in (patient, again)
        ]
        assert [i["note"] for i in scope_notes[1]] == [i["note"] for i in scope_notes[0]]
        (audited,) = await audit_rows(database, patient.user.id, "record.export")
        assert (audited.details["section"], audited.details["rows"]) == ("observations", 3)

    async def test_every_other_section(
        self,
        client: httpx.AsyncClient,
        person: MakePerson,
        database: Database,
        settings: Settings,
    ) -> None:
        patient = await person(Role.patient)
        pid = patient.user.id
        scope = CallScope.system(settings)
        rows: list[tuple[Any, Any, str]] = [
            (
                Medication(id=uuid.uuid4(), patient_id=pid, name="Metformin", dose="500 mg",
                           times=[time(8), time(20)], weekdays=[1, 3], starts_on=date(2026, 1, 1)),
                sealed.MEDICATION_INSTRUCTIONS, "with food",
            ),
            (
                Symptom(id=uuid.uuid4(), patient_id=pid, name="Headache", severity=4,
                        onset_at=datetime(2026, 1, 3, 9, tzinfo=UTC)),
                sealed.SYMPTOM_NOTE, "after screens",
            ),
            (
                Allergy(id=uuid.uuid4(), patient_id=pid, substance="Penicillin", reaction="rash",
                        severity="moderate"),
                sealed.ALLERGY_NOTE, "+ hives",
            ),
            (
                Condition(id=uuid.uuid4(), patient_id=pid, name="Asthma", status="active"),
                sealed.CONDITION_NOTE, RECORD_CANARY,
            ),
            (
                Immunization(id=uuid.uuid4(), patient_id=pid, vaccine="Tetanus", dose_number=2,
                             given_on=date(2025, 5, 1)),
                sealed.IMMUNIZATION_NOTE, "left arm",
            ),
        ]  # fmt: skip
        async with database.transaction() as db:
            await scope.unlock(db, pid)
            for row, column, text in rows:
                setattr(row, column.column, scope.keyring.seal(column, row, text))
                db.add(row)
        expected = {
            "medications": {"name": "Metformin", "dose": "500 mg", "times": "08:00 20:00",
                            "weekdays": "1 3", "starts_on": "2026-01-01", "reminders": "true",
                            "instructions": "with food"},
            "symptoms": {"name": "Headache", "severity": "4",
                         "onset_at": "2026-01-03T09:00:00+00:00", "note": "after screens"},
            "allergies": {"substance": "Penicillin", "reaction": "rash", "severity": "moderate",
                          "note": "'+ hives"},
            "conditions": {"name": "Asthma", "status": "active", "note": RECORD_CANARY},
            "immunizations": {"vaccine": "Tetanus", "dose_number": "2",
                              "given_on": "2025-05-01", "note": "left arm"},
        }  # fmt: skip
        stranger = await person(Role.patient)
        for section, fields in expected.items():
            path = f"/api/v1/records/export?section={section}"
            answer = await client.get(path, headers=patient.headers)
            assert answer.status_code == 200, (section, answer.text)
            (exported,) = rows_of(answer)
            assert {k: exported[k] for k in fields} == fields, section
            theirs = await client.get(path, headers=stranger.headers)
            assert rows_of(theirs) == [], section
        async with database.transaction() as db:
            exports = await db.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.resource_id == str(pid), AuditEvent.action == "record.export")
            )
        assert exports == 5
