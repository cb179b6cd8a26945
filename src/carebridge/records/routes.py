"""Health record API, part one: observations, the kinds catalog, sharing (grants), the emergency
opening and the access log. A patient uses ``/records/...``; a clinician reads (and, while caring
for the patient, adds to) ``/patients/{patient_id}/records/...``: the same answers, audited.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from carebridge.accounts.actors import AdminActor, AnyUser, DoctorActor, PatientActor
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.inputs import Instant
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from carebridge.platform.problems import problem_responses
from carebridge.records import access, catalog, observations
from carebridge.records.deps import OwnRecord, PatientRecord
from carebridge.records.policy import Subject
from carebridge.records.schemas import (
    AccessLogPage,
    EmergencyIn,
    EmergencyOut,
    EmergencyReviewPage,
    GrantIn,
    GrantOut,
    KindOut,
    ObservationIn,
    ObservationOut,
    ObservationPage,
    ObservationPatch,
)
from carebridge.records.vitals import Kind

router = APIRouter(tags=["records"])
_READ = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid)
_WRITE = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid)

Cursor = Annotated[str | None, Query(max_length=512)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.get("/records/observation-kinds", response_model=list[KindOut], responses=_READ)
async def observation_kinds(actor: AnyUser) -> list[KindOut]:
    """The kinds of observation: LOINC code, canonical UCUM unit, the units accepted, the values
    possible at all and the ranges that flag a reading (with their sources)."""
    return catalog.kinds()


async def _list(
    db: Session,
    scope: Scope,
    subject: Subject,
    kind: Kind | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> ObservationPage:
    page = await observations.list_observations(
        db, scope, subject, kind=kind, since=since, until=until, cursor=cursor, limit=limit
    )
    return ObservationPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/records/observations", response_model=ObservationPage, responses=_READ)
async def list_observations(
    subject: OwnRecord,
    db: Session,
    scope: Scope,
    kind: Kind | None = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> ObservationPage:
    """Patient: your readings, newest measured first (`kind`, and `from`/`to` on the time
    measured, filter)."""
    return await _list(db, scope, subject, kind, since, until, cursor, limit)


@router.get(
    "/patients/{patient_id}/records/observations", response_model=ObservationPage, responses=_READ
)
async def read_observations(
    subject: PatientRecord,
    db: Session,
    scope: Scope,
    kind: Kind | None = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> ObservationPage:
    """Clinician: a patient's readings, as `GET /records/observations` (audited)."""
    return await _list(db, scope, subject, kind, since, until, cursor, limit)


@router.post(
    "/records/observations", status_code=201, response_model=ObservationOut, responses=_WRITE
)
async def add_observation(
    body: ObservationIn, subject: OwnRecord, db: Session, scope: Scope
) -> ObservationOut:
    """Patient: add a reading in any unit its kind accepts; it is stored in the canonical unit
    and flagged (`low`, `high`, `critical_low`, `critical_high`). An impossible value answers
    422 `impossible_value` with the accepted range."""
    return await observations.add(db, scope, subject, body)


@router.post(
    "/patients/{patient_id}/records/observations",
    status_code=201,
    response_model=ObservationOut,
    responses=_WRITE,
)
async def add_clinician_observation(
    body: ObservationIn, subject: PatientRecord, db: Session, scope: Scope
) -> ObservationOut:
    """Clinician caring for the patient (an appointment, or an emergency opening): add a
    clinician observation. A grant shares for reading only (403 `read_only_grant`)."""
    return await observations.add(db, scope, subject, body)


@router.patch(
    "/records/observations/{observation_id}", response_model=ObservationOut, responses=_WRITE
)
async def update_observation(
    observation_id: uuid.UUID, body: ObservationPatch, subject: OwnRecord, db: Session, scope: Scope
) -> ObservationOut:
    """Patient: correct one of your readings (not a clinician's: 403 `not_your_entry`)."""
    return await observations.update(db, scope, subject, observation_id, body)


@router.delete("/records/observations/{observation_id}", status_code=204, responses=_WRITE)
async def delete_observation(
    observation_id: uuid.UUID, subject: OwnRecord, db: Session, scope: Scope
) -> Response:
    """Patient: delete one of your readings."""
    await observations.delete(db, scope, subject, observation_id)
    return Response(status_code=204)


# -- sharing --------------------------------------------------------------------------------------


@router.get("/records/grants", response_model=list[GrantOut], responses=_READ)
async def list_grants(actor: PatientActor, db: Session) -> list[GrantOut]:
    """Patient: whom you share your record with (in force first), and earlier grants."""
    return await access.list_grants(db, actor)


@router.post("/records/grants", status_code=201, response_model=GrantOut, responses=_WRITE)
async def grant_access(body: GrantIn, actor: PatientActor, db: Session, scope: Scope) -> GrantOut:
    """Patient: share `all` or some sections with a doctor or nurse until `expires_at` (at most
    `CAREBRIDGE_RECORD_GRANT_MAX_DAYS` ahead). Replaces that clinician's grant in force. They
    are told."""
    return await access.grant(db, scope, actor, body)


@router.delete("/records/grants/{grant_id}", status_code=204, responses=_WRITE)
async def revoke_grant(
    grant_id: uuid.UUID, actor: PatientActor, db: Session, scope: Scope
) -> Response:
    """Patient: stop sharing now."""
    await access.revoke(db, scope, actor, grant_id)
    return Response(status_code=204)


@router.get("/records/access-log", response_model=AccessLogPage, responses=_READ)
async def access_log(
    actor: PatientActor, db: Session, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> AccessLogPage:
    """Patient: who else read or wrote your record, which section, on what basis and when."""
    page = await access.access_log(db, actor, cursor=cursor, limit=limit)
    return AccessLogPage(items=page.items, next_cursor=page.next_cursor)


@router.post(
    "/patients/{patient_id}/records/emergency-access",
    status_code=201,
    response_model=EmergencyOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, Invalid),
)
async def emergency_access(
    patient_id: uuid.UUID, body: EmergencyIn, actor: DoctorActor, db: Session, scope: Scope
) -> EmergencyOut:
    """Doctor: "break the glass": open a record you have no care relationship or grant for, in
    an emergency, with a written `reason`. It lasts `CAREBRIDGE_RECORD_EMERGENCY_MINUTES`; it is
    audited and the patient and the administrators are told at once. 409
    `record_already_open` when you can read it anyway."""
    return await access.break_glass(db, scope, actor, patient_id, body)


@router.get(
    "/admin/records/emergency-accesses",
    response_model=EmergencyReviewPage,
    responses=problem_responses(Unauthenticated, Forbidden, Invalid),
)
async def emergency_accesses(
    actor: AdminActor,
    db: Session,
    scope: Scope,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> EmergencyReviewPage:
    """Administrator: every emergency opening of a record, newest first: who, whose, when and
    the reason they wrote (the listing is audited)."""
    page = await access.emergency_openings(db, scope, actor, cursor=cursor, limit=limit)
    return EmergencyReviewPage(items=page.items, next_cursor=page.next_cursor)
