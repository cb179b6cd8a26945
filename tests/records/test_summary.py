"""The health summary: a score from transparent components, each with its value, points and the
rule that scored it; the mean of those with data; the rules printed in docs/records.md."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from carebridge.records.summary import rules_table
from carebridge.records.vitals import Kind
from tests.factories.prescriptions import MakeConsultation
from tests.factories.records_trends import Reading, share, write_readings
from tests.factories.settings import ROOT
from tests.factories.users import Person

MakePerson = Callable[..., Awaitable[Person]]
OWN = "/api/v1/records/summary"


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


class TestRefused:
    async def test_anonymous_wrong_role_someone_else_and_a_grant_without_observations(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient, doctor, nurse = (
            await person(Role.patient),
            await person(Role.doctor),
            await person(Role.nurse),
        )
        theirs = f"/api/v1/patients/{patient.user.id}/records/summary"
        assert (await client.get(OWN)).status_code == 401
        assert (await client.get(theirs)).status_code == 401
        assert (await client.get(OWN, headers=doctor.headers)).status_code == 403
        assert (await client.get(theirs, headers=patient.headers)).status_code == 403
        assert (await client.get(theirs, headers=doctor.headers)).status_code == 404
        await share(client, patient, nurse, ["medications"])
        assert (await client.get(theirs, headers=nurse.headers)).status_code == 404


class TestSummary:
    async def test_no_data_no_score(self, client: httpx.AsyncClient, person: MakePerson) -> None:
        patient = await person(Role.patient)
        answer = await client.get(OWN, headers=patient.headers)
        assert answer.status_code == 200, answer.text
        summary = answer.json()
        assert (summary["score"], summary["scored_components"]) == (None, 0)
        assert [c["key"] for c in summary["components"]] == [
            "blood_pressure", "bmi", "blood_glucose", "activity", "medication_adherence",
        ]  # fmt: skip
        for component in summary["components"]:
            assert component["status"] == "not_enough_data"
            assert (component["points"], component["rule"]) == (None, None)

    async def test_each_component_scored_by_its_rule_and_the_mean(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        patient = await person(Role.patient)
        readings = [
            # Blood pressure: mean 136/84 over the window (stage 1); an old crisis is ignored.
            Reading(Kind.blood_pressure, 130, ago(1), 82),
            Reading(Kind.blood_pressure, 142, ago(5), 86),
            Reading(Kind.blood_pressure, 200, ago(20), 125),
            # BMI: the latest weight (80 kg, not 60) and height (180 cm): 24.7.
            Reading(Kind.body_weight, 60, ago(300)),
            Reading(Kind.body_weight, 80, ago(2)),
            Reading(Kind.body_height, 180, ago(400)),
            # Glucose: 3 of 4 within 70-180.
            *(Reading(Kind.blood_glucose, v, ago(d)) for v, d in [(95, 1), (150, 2), (60, 3)]),
            Reading(Kind.blood_glucose, 180, ago(4)),
            # Two days of steps only: not enough for activity.
            Reading(Kind.steps, 12000, ago(1)),
            Reading(Kind.steps, 11000, ago(2)),
        ]
        await write_readings(database, patient.user.id, readings)
        summary = (await client.get(OWN, headers=patient.headers)).json()
        parts = {c["key"]: c for c in summary["components"]}
        bp = parts["blood_pressure"]
        assert (bp["value"], bp["value2"], bp["readings"], bp["points"]) == (136, 84, 2, 70)
        assert bp["rule"] == "Below 140/90 mmHg: stage 1 hypertension."
        assert (parts["bmi"]["value"], parts["bmi"]["points"]) == (24.7, 100)
        glucose = parts["blood_glucose"]
        assert (glucose["value"], glucose["readings"], glucose["points"]) == (0.75, 4, 75)
        assert (parts["activity"]["status"], parts["activity"]["readings"]) == (
            "not_enough_data",
            2,
        )
        assert parts["medication_adherence"]["status"] == "not_enough_data"
        assert summary["scored_components"] == 3
        assert summary["score"] == round((70 + 100 + 75) / 3)
        assert "mean" in summary["how"]

    async def test_activity_bands(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        patient = await person(Role.patient)
        steps = [Reading(Kind.steps, v, ago(d)) for d, v in [(1, 4000), (2, 6000), (3, 5500)]]
        await write_readings(database, patient.user.id, steps)
        (activity,) = [
            c
            for c in (await client.get(OWN, headers=patient.headers)).json()["components"]
            if c["key"] == "activity"
        ]
        assert (activity["value"], activity["points"]) == (5166.7, 60)
        assert activity["rule"] == "5,000 to 7,499 steps a day: low active."

    async def test_a_clinician_reads_it_audited_and_a_grant_without_medications(
        self,
        client: httpx.AsyncClient,
        consultation: MakeConsultation,
        person: MakePerson,
        database: Database,
    ) -> None:
        visit = await consultation()
        patient = visit.patient
        await write_readings(
            database, patient.user.id, [Reading(Kind.blood_pressure, 118, ago(1), 76)]
        )
        path = f"/api/v1/patients/{patient.user.id}/records/summary"
        answer = await client.get(path, headers=visit.doctor.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["score"] == 100
        nurse = await person(Role.nurse)
        await share(client, patient, nurse, ["observations"])
        shared = (await client.get(path, headers=nurse.headers)).json()
        assert shared["components"][-1]["status"] == "not_shared"
        assert shared["score"] == 100
        async with database.transaction() as db:
            reads = (
                await db.scalars(
                    select(AuditEvent).where(
                        AuditEvent.resource_id == str(patient.user.id),
                        AuditEvent.action == "record.read",
                    )
                )
            ).all()
        assert sorted((e.details["basis"], e.details["view"]) for e in reads) == [
            ("care", "summary"),
            ("grant", "summary"),
        ]


def test_the_rules_table_is_printed_in_the_docs() -> None:
    assert rules_table() in (ROOT / "docs" / "records.md").read_text()
