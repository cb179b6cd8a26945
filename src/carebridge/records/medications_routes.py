"""Health record API: the medication list, its doses and adherence. The patient uses
``/records/medications...``; a clinician reads ``/patients/{patient_id}/records/medications...``
(audited)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.inputs import Day
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE
from carebridge.platform.problems import problem_responses
from carebridge.records import medication_doses, medications
from carebridge.records.deps import OwnRecord, PatientRecord
from carebridge.records.medications_schemas import (
    DayOut,
    DoseIn,
    DoseOut,
    FromPrescriptionIn,
    FromPrescriptionOut,
    MedicationIn,
    MedicationOut,
    MedicationPage,
    MedicationPatch,
)
from carebridge.records.policy import Subject
from carebridge.records.routes import Cursor, Limit

router = APIRouter(tags=["records"])
_READ = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid)
_WRITE = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid)

Active = Annotated[
    bool | None, Query(description="true: active ones only; false: stopped or ended ones only.")
]
DayQuery = Annotated[Day | None, Query(alias="date", description="Today when left out.")]


async def _list(
    db: Session, scope: Scope, subject: Subject, active: bool | None, cursor: str | None, limit: int
) -> MedicationPage:
    page = await medications.list_medications(
        db, scope, subject, active=active, cursor=cursor, limit=limit
    )
    return MedicationPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/records/medications", response_model=MedicationPage, responses=_READ)
async def list_medications(
    subject: OwnRecord,
    db: Session,
    scope: Scope,
    active: Active = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> MedicationPage:
    """Patient: your medications, active ones first (newest first), then stopped or ended
    ones; each with its adherence over the last 30 days."""
    return await _list(db, scope, subject, active, cursor, limit)


@router.get(
    "/patients/{patient_id}/records/medications", response_model=MedicationPage, responses=_READ
)
async def read_medications(
    subject: PatientRecord,
    db: Session,
    scope: Scope,
    active: Active = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> MedicationPage:
    """Clinician: a patient's medications, as `GET /records/medications` (audited)."""
    return await _list(db, scope, subject, active, cursor, limit)


@router.post(
    "/records/medications", status_code=201, response_model=MedicationOut, responses=_WRITE
)
async def add_medication(
    body: MedicationIn, subject: OwnRecord, db: Session, scope: Scope
) -> MedicationOut:
    """Patient: add a medication with its schedule: local `times` of day (in your time zone,
    followed when you move), `weekdays` (empty: daily), `starts_on`/`ends_on`. With `reminders`
    on you are reminded at each time."""
    return await medications.add(db, scope, subject, body)


@router.post(
    "/records/medications/from-prescription",
    status_code=201,
    response_model=FromPrescriptionOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, Invalid),
)
async def add_from_prescription(
    body: FromPrescriptionIn, subject: OwnRecord, db: Session, scope: Scope, response: Response
) -> FromPrescriptionOut:
    """Patient: add each line of one of your issued prescriptions to your medications, starting
    today; times of day follow a known frequency ("twice a day": 08:00 and 20:00), else you set
    them. Adding it again adds nothing (200 with `added: 0`); 409 `prescription_cancelled`."""
    added = await medications.from_prescription(db, scope, subject, body.prescription_id)
    if added.added == 0:
        response.status_code = 200
    return added


@router.get("/records/medications/today", response_model=DayOut, responses=_READ)
async def doses_of_day(
    subject: OwnRecord, db: Session, scope: Scope, day: DayQuery = None
) -> DayOut:
    """Patient: the doses of a day in your time zone (today unless `date` is given), by time,
    each `upcoming`, `due`, `missed`, `taken` or `skipped`."""
    return await medication_doses.day(db, scope, subject, day)


@router.get("/records/medications/{medication_id}", response_model=MedicationOut, responses=_READ)
async def read_medication(
    medication_id: uuid.UUID, subject: OwnRecord, db: Session, scope: Scope
) -> MedicationOut:
    """Patient: one of your medications."""
    return await medications.read(db, scope, subject, medication_id)


@router.get(
    "/patients/{patient_id}/records/medications/{medication_id}",
    response_model=MedicationOut,
    responses=_READ,
)
async def read_patient_medication(
    medication_id: uuid.UUID, subject: PatientRecord, db: Session, scope: Scope
) -> MedicationOut:
    """Clinician: one of a patient's medications (audited)."""
    return await medications.read(db, scope, subject, medication_id)


@router.patch(
    "/records/medications/{medication_id}", response_model=MedicationOut, responses=_WRITE
)
async def update_medication(
    medication_id: uuid.UUID, body: MedicationPatch, subject: OwnRecord, db: Session, scope: Scope
) -> MedicationOut:
    """Patient: change a medication (its name, dose, route, schedule, dates, reminders or
    instructions). The doses already marked stay."""
    return await medications.update(db, scope, subject, medication_id, body)


@router.post(
    "/records/medications/{medication_id}/stop", response_model=MedicationOut, responses=_WRITE
)
async def stop_medication(
    medication_id: uuid.UUID, subject: OwnRecord, db: Session, scope: Scope
) -> MedicationOut:
    """Patient: you stopped taking it: it stays in your list with its history, with no doses
    or reminders from now on."""
    return await medications.stop(db, scope, subject, medication_id)


@router.delete("/records/medications/{medication_id}", status_code=204, responses=_WRITE)
async def delete_medication(
    medication_id: uuid.UUID, subject: OwnRecord, db: Session, scope: Scope
) -> Response:
    """Patient: remove a medication entered in error, with its doses (to end one you took,
    stop it instead)."""
    await medications.delete(db, scope, subject, medication_id)
    return Response(status_code=204)


@router.post("/records/medications/{medication_id}/doses", response_model=DoseOut, responses=_WRITE)
async def mark_dose(
    medication_id: uuid.UUID, body: DoseIn, subject: OwnRecord, db: Session, scope: Scope
) -> DoseOut:
    """Patient: mark one dose `taken` or `skipped`: a time of the medication on a day it is
    taken, today or before (422 `not_a_dose`, `dose_in_future`). Marking it again changes it."""
    return await medication_doses.mark(db, scope, subject, medication_id, body)
