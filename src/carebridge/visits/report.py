"""A home visit's report: the nurse writes it, submits it for review (its vitals go into the
patient's health record as ``visit`` observations), a doctor asks for changes or signs it off
(the visit moves to ``signed_off``). Its photos and its PDF: ``report_files.py``.

Who reads it (anyone else, a dispatcher included: 404, as if it did not exist):

- the visit's nurse, always (an empty draft before the first save);
- a doctor once it was submitted: the doctor who ordered the visit, any doctor while it waits
  in the review queue (submitted, nobody reviewing), and the doctor who took it (the first
  review action makes them its reviewer: from then on only they review it);
- the patient once it is signed off, without what is for the care team (the nurse's clinical
  observations, the doctor's rating, feedback and requested changes).

The body is sealed as one JSON document (``sealed.REPORT_BODY``); every read by someone other
than the patient, every write, every photo and PDF download is audited (``visit.report.*``
on the visit: resource ``home_visit``).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.accounts.service import names_of, time_zone_of
from carebridge.notifications.service import notify
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound
from carebridge.records import access as record_access
from carebridge.records import observations
from carebridge.records.models import Section, Source
from carebridge.visits import kinds, policy, service, states
from carebridge.visits.models import ReportStatus, Visit, VisitPhoto, VisitReport, VisitStatus
from carebridge.visits.report_schemas import (
    MedicationGivenOut,
    PhotoOut,
    ReportIn,
    ReportOut,
    ReviewIn,
    VitalIn,
    VitalOut,
)
from carebridge.visits.schemas import PersonOut
from carebridge.visits.sealed import PHOTO_CAPTION, REPORT_BODY, REPORT_CHANGES, REPORT_FEEDBACK

# The nurse writes while the visit is under way or done, and the report is theirs to change.
WRITING_VISIT = frozenset({VisitStatus.in_progress, VisitStatus.completed})
EDITABLE = frozenset({ReportStatus.draft, ReportStatus.changes_requested})
# A clock a little ahead on the nurse's phone is not a reading from the future.
_FUTURE_SLACK = timedelta(minutes=5)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def not_found() -> NotFound:
    return NotFound("No such visit report.", code="report_not_found")


# -- who may do what ------------------------------------------------------------------------------


def may_read(actor: Actor, visit: Visit, report: VisitReport | None) -> bool:
    if actor.role == Role.nurse:
        return visit.nurse_id == actor.id
    if report is None:
        return False
    if actor.role == Role.patient:
        return visit.patient_id == actor.id and report.status == ReportStatus.signed_off
    if actor.role == Role.doctor and report.submitted_at is not None:
        return (
            visit.ordered_by_id == actor.id
            or report.reviewer_id == actor.id
            or (report.status == ReportStatus.submitted and report.reviewer_id is None)
        )
    return False


def may_review(actor: Actor, visit: Visit, report: VisitReport | None) -> bool:
    """A doctor, on a submitted report of a completed visit nobody else took."""
    return (
        actor.role == Role.doctor
        and report is not None
        and visit.status == VisitStatus.completed
        and report.status == ReportStatus.submitted
        and report.reviewer_id in (None, actor.id)
    )


def writing_refusal(visit: Visit, report: VisitReport | None) -> Conflict | None:
    if visit.status not in WRITING_VISIT:
        return Conflict(
            "The report is written once the visit has started, until it is signed off.",
            code="report_not_writable_now",
            visit_status=visit.status,
        )
    if report is not None and report.status not in EDITABLE:
        return Conflict(
            "The report was submitted: it changes only if the reviewing doctor asks for changes.",
            code="report_locked",
            report_status=report.status,
        )
    return None


def actions(actor: Actor, visit: Visit, report: VisitReport | None) -> list[str]:
    found = []
    is_nurse = actor.role == Role.nurse and visit.nurse_id == actor.id
    if is_nurse and writing_refusal(visit, report) is None:
        found.append("edit")
        if report is not None and visit.status == VisitStatus.completed:
            found.append("submit")
    if may_review(actor, visit, report):
        found.append("review")
    if report is not None and may_read(actor, visit, report):
        found.append("download")
    return found


# -- loading --------------------------------------------------------------------------------------


async def _report(
    db: AsyncSession, visit_id: uuid.UUID, *, lock: bool = False
) -> VisitReport | None:
    statement = select(VisitReport).where(VisitReport.visit_id == visit_id)
    if lock:
        statement = statement.with_for_update()
    found: VisitReport | None = await db.scalar(statement)
    return found


async def readable(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, *, lock: bool = False
) -> tuple[Visit, VisitReport | None]:
    """The visit and its report if ``actor`` may read the report (404 otherwise); ``lock``: both
    rows locked for a write, the visit first as every move does."""
    visit = await service.find_visit(db, scope, actor, visit_id, lock=lock)
    report = await _report(db, visit.id, lock=lock)
    if not may_read(actor, visit, report):
        raise not_found()
    return visit, report


async def the_nurses(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> tuple[Visit, VisitReport | None]:
    """The visit and its report, both locked, for a write by the visit's nurse."""
    visit, report = await readable(db, scope, actor, visit_id, lock=True)
    if actor.role != Role.nurse:
        raise Forbidden("Only the visit's nurse writes its report.", code="not_the_nurse")
    return visit, report


# -- the answer -----------------------------------------------------------------------------------


def body_of(scope: CallScope, report: VisitReport | None) -> ReportIn:
    if report is None:
        return ReportIn()
    opened = scope.keyring.open_text(REPORT_BODY, report)
    return ReportIn.model_validate(json.loads(opened or "{}"))


def photo_url(photo: VisitPhoto) -> str:
    return f"/api/v1/visits/{photo.visit_id}/report/photos/{photo.id}"


def photo_out(scope: CallScope, photo: VisitPhoto) -> PhotoOut:
    return PhotoOut(
        id=photo.id,
        filename=photo.filename,
        content_type=photo.content_type,
        size=photo.size,
        caption=scope.keyring.open_text(PHOTO_CAPTION, photo),
        created_at=photo.created_at,
        url=photo_url(photo),
    )


async def _photos(db: AsyncSession, visit_id: uuid.UUID) -> list[VisitPhoto]:
    return list(
        await db.scalars(
            select(VisitPhoto)
            .where(VisitPhoto.visit_id == visit_id)
            .order_by(VisitPhoto.created_at, VisitPhoto.id)
        )
    )


def _person(names: dict[uuid.UUID, str], user_id: uuid.UUID | None) -> PersonOut | None:
    return None if user_id is None else PersonOut(id=user_id, name=names.get(user_id, "Someone"))


async def report_out(
    db: AsyncSession, scope: CallScope, actor: Actor, visit: Visit, report: VisitReport | None
) -> ReportOut:
    body = body_of(scope, report)
    team = actor.role != Role.patient  # the care team sees their notes to each other
    keyring = scope.keyring
    nurse_id = visit.nurse_id if report is None else report.nurse_id
    reviewer_id = None if report is None else report.reviewer_id
    names = await names_of(db, {i for i in (nurse_id, reviewer_id) if i})
    return ReportOut(
        visit_id=visit.id,
        status=ReportStatus.draft if report is None else ReportStatus(report.status),
        version=0 if report is None else report.version,
        nurse=_person(names, nurse_id),
        vitals=[VitalOut.model_validate(v.model_dump()) for v in body.vitals],
        interventions=body.interventions,
        medications_given=[
            MedicationGivenOut.model_validate(m.model_dump()) for m in body.medications_given
        ],
        observations=body.observations if team else None,
        recommendations=body.recommendations,
        photos=[photo_out(scope, photo) for photo in await _photos(db, visit.id)],
        changes_requested=keyring.open_text(REPORT_CHANGES, report) if report and team else None,
        rating=report.rating if report and team else None,
        feedback=keyring.open_text(REPORT_FEEDBACK, report) if report and team else None,
        reviewer=_person(names, reviewer_id),
        submitted_at=None if report is None else report.submitted_at,
        reviewed_at=None if report is None else report.reviewed_at,
        signed_at=None if report is None else report.signed_at,
        updated_at=None if report is None else report.updated_at,
        actions=actions(actor, visit, report),
    )


# -- reading and writing --------------------------------------------------------------------------


async def get_report(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> ReportOut:
    """The report as ``actor`` may read it; a read by anyone but the patient is audited."""
    visit, report = await readable(db, scope, actor, visit_id)
    if actor.id != visit.patient_id:
        await service.audit(db, scope, actor, "visit.report.read", visit)
    return await report_out(db, scope, actor, visit, report)


def _checked_vital(vital: VitalIn, now: datetime) -> VitalIn:
    """The reading as stored: checked like any reading of the record (422 with its codes), in
    the unit it was entered in, with the time it was measured."""
    measured = observations.measure(vital.kind, vital.value, vital.value2, vital.unit)
    measured_at = vital.measured_at or now
    if measured_at > now + _FUTURE_SLACK:
        raise Invalid("A reading cannot be measured in the future.", code="measured_in_future")
    return vital.model_copy(update={"unit": measured.unit.code, "measured_at": measured_at})


def new_report(scope: CallScope, visit: Visit, nurse_id: uuid.UUID) -> VisitReport:
    report = VisitReport(
        visit_id=visit.id, status=ReportStatus.draft.value, nurse_id=nurse_id, version=1
    )
    report.body_sealed = scope.keyring.seal(
        REPORT_BODY, report, ReportIn().model_dump_json(), patient=visit.patient_id
    )
    return report


async def save_report(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit_id: uuid.UUID,
    body: ReportIn,
    *,
    now: datetime | None = None,
) -> ReportOut:
    """The nurse replaces the report's content (a draft, or one a doctor sent back)."""
    now = _now(now)
    visit, report = await the_nurses(db, scope, actor, visit_id)
    refusal = writing_refusal(visit, report)
    if refusal is not None:
        raise refusal
    stored = body.model_copy(update={"vitals": [_checked_vital(v, now) for v in body.vitals]})
    if report is None:
        report = new_report(scope, visit, actor.id)
        db.add(report)
    else:
        report.version += 1
        report.nurse_id = actor.id
    report.body_sealed = scope.keyring.seal(
        REPORT_BODY, report, stored.model_dump_json(), patient=visit.patient_id
    )
    await db.flush()
    await db.refresh(report)
    await service.audit(db, scope, actor, "visit.report.written", visit, version=report.version)
    return await report_out(db, scope, actor, visit, report)


# -- submitting -----------------------------------------------------------------------------------


async def _write_vitals(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit: Visit,
    report: VisitReport,
    body: ReportIn,
    now: datetime,
) -> list[uuid.UUID]:
    """The report's vitals as ``visit`` observations of the patient's record, in place of those
    an earlier submission wrote; each write on the record's trail."""
    subject = await record_access.subject_for(
        db, scope, actor, visit.patient_id, now=now, record_refusal=False
    )
    await observations.withdraw(db, scope, subject, list(report.observation_ids))
    time_zone = await time_zone_of(db, visit.patient_id)
    ids = []
    for vital in body.vitals:
        row = observations.new_row(
            scope,
            visit.patient_id,
            vital.kind,
            observations.measure(vital.kind, vital.value, vital.value2, vital.unit),
            measured_at=vital.measured_at or now,
            time_zone=time_zone,
            source=Source.visit,
            recorded_by_id=actor.id,
            note=None,
        )
        await record_access.check_write(
            db, scope, subject, Section.observations, row.id, "create", visit_id=str(visit.id)
        )
        db.add(row)
        ids.append(row.id)
    return ids


async def submit(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> ReportOut:
    """The nurse hands the report of a completed visit to a doctor: the vitals go into the
    record; the ordering doctor (or the doctor who asked for changes) is told, otherwise it
    waits in every doctor's review queue."""
    now = _now(now)
    visit, report = await the_nurses(db, scope, actor, visit_id)
    refusal = writing_refusal(visit, report)
    if refusal is not None:
        raise refusal
    if visit.status != VisitStatus.completed:
        raise Conflict(
            "Complete the visit before submitting its report.",
            code="visit_not_completed",
            visit_status=visit.status,
        )
    if report is None:
        raise Conflict("Save the report before submitting it.", code="report_empty")
    body = body_of(scope, report)
    report.observation_ids = await _write_vitals(db, scope, actor, visit, report, body, now)
    report.status = ReportStatus.submitted.value
    report.submitted_at = now
    await db.flush()
    await db.refresh(report)
    await service.audit(
        db, scope, actor, "visit.report.submitted", visit, vitals=len(report.observation_ids)
    )
    doctor = report.reviewer_id or visit.ordered_by_id
    if doctor is not None:
        nurse = (await names_of(db, [actor.id])).get(actor.id, "The nurse")
        await notify(
            db,
            doctor,
            kinds.VISIT_REPORT_SUBMITTED.name,
            "A home visit report to review",
            f"{nurse} submitted the report of a {label_of(visit).lower()} visit.",
            data={"visit_id": str(visit.id)},
            link=f"/visits/{visit.id}/report",
        )
    return await report_out(db, scope, actor, visit, report)


def label_of(visit: Visit) -> str:
    return service.service_out(visit.service).label


# -- reviewing ------------------------------------------------------------------------------------


def _check_review(body: ReviewIn) -> None:
    if body.decision == "sign_off" and body.rating is None:
        raise Invalid("Rate the report (1 to 5) to sign it off.", code="rating_required")
    if body.decision == "request_changes" and body.changes is None:
        raise Invalid("Say what the nurse should change.", code="changes_required")


async def review(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit_id: uuid.UUID,
    body: ReviewIn,
    *,
    now: datetime | None = None,
) -> ReportOut:
    """A doctor takes the submitted report (the first to act becomes its only reviewer: the
    report's row is locked, so two doctors cannot both take it) and asks for changes or signs
    it off, which moves the visit to ``signed_off``."""
    now = _now(now)
    _check_review(body)
    try:
        visit, report = await readable(db, scope, actor, visit_id, lock=True)
    except NotFound:
        if await _ordered_by(db, scope, actor, visit_id):  # theirs, not written yet
            raise Conflict(
                "The nurse has not submitted the report yet.", code="report_not_submitted"
            ) from None
        raise
    if actor.role != Role.doctor:
        raise Forbidden("A doctor reviews a visit's report.", code="not_a_doctor")
    assert report is not None  # a doctor reads only a submitted report
    if report.status != ReportStatus.submitted:
        raise Conflict(
            "Only a submitted report is reviewed.",
            code="report_not_submitted",
            report_status=report.status,
        )
    if not may_review(actor, visit, report):
        raise Conflict("Another doctor is reviewing this report.", code="report_taken")
    report.reviewer_id = actor.id
    report.reviewed_at = now
    if body.decision == "request_changes":
        await _send_back(db, scope, actor, visit, report, body)
    else:
        await _sign_off(db, scope, actor, visit, report, body, now)
    await db.flush()
    await db.refresh(report)
    return await report_out(db, scope, actor, visit, report)


async def _ordered_by(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> bool:
    """Whether ``actor`` is the doctor who ordered the visit (who sees the visit itself)."""
    if actor.role != Role.doctor:
        return False
    visit = await service.find_visit(db, scope, actor, visit_id)
    return visit.ordered_by_id == actor.id


async def _send_back(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit: Visit,
    report: VisitReport,
    body: ReviewIn,
) -> None:
    report.status = ReportStatus.changes_requested.value
    report.changes_sealed = scope.keyring.seal(
        REPORT_CHANGES, report, body.changes, patient=visit.patient_id
    )
    await service.audit(db, scope, actor, "visit.report.reviewed", visit, decision=body.decision)
    if report.nurse_id is not None:
        doctor = (await names_of(db, [actor.id])).get(actor.id, "The doctor")
        await notify(
            db,
            report.nurse_id,
            kinds.VISIT_REPORT_CHANGES.name,
            "Changes asked to your visit report",
            f"{doctor} asked for changes to the report of a {label_of(visit).lower()} visit.",
            data={"visit_id": str(visit.id)},
            link=f"/visits/{visit.id}/report",
        )


async def _sign_off(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit: Visit,
    report: VisitReport,
    body: ReviewIn,
    now: datetime,
) -> None:
    facts = await service.facts_of(db, scope, actor, visit)  # reviewing: they hold the report
    move = states.find(VisitStatus(visit.status), VisitStatus.signed_off)
    if (
        move is None
        or not move.parties & policy.parties(actor, visit, facts)
        or policy.time_refusal(move, visit, now, scope.settings) is not None
    ):
        raise Conflict("This report cannot be signed off now.", code="illegal_transition")
    report.status = ReportStatus.signed_off.value
    report.signed_at = now
    report.rating = body.rating
    report.feedback_sealed = scope.keyring.seal(
        REPORT_FEEDBACK, report, body.feedback, patient=visit.patient_id
    )
    await db.flush()
    await service.apply_move(db, scope, actor, visit, move, now, nurse_id=visit.nurse_id)
    await service.audit(
        db, scope, actor, "visit.report.reviewed", visit, decision=body.decision, rating=body.rating
    )
    doctor = (await names_of(db, [actor.id])).get(actor.id, "The doctor")
    label = label_of(visit).lower()
    data = {"visit_id": str(visit.id)}
    if report.nurse_id is not None:
        await notify(
            db,
            report.nurse_id,
            kinds.VISIT_REPORT_SIGNED.name,
            "Your visit report is signed off",
            f"{doctor} signed off the report of a {label} visit and rated it {body.rating}/5.",
            data={**data, "rating": str(body.rating)},
            link=f"/visits/{visit.id}/report",
        )
    await notify(
        db,
        visit.patient_id,
        kinds.VISIT_REPORT_READY.name,
        "The report of your home visit is ready",
        f"{doctor} signed off the report of your {label} visit. You can download it.",
        data=data,
        link=f"/visits/{visit.id}",
    )
