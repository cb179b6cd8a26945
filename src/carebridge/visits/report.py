"""A home visit's report: the nurse writes it, submits it for review (its vitals go into the
patient's health record as ``visit`` observations), a doctor asks for changes or signs it off
(the visit moves to ``signed_off``), and it prints as a PDF.

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

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.accounts.service import names_of, time_zone_of
from carebridge.notifications.service import notify
from carebridge.platform import files, malware
from carebridge.platform.context import CallScope
from carebridge.platform.db import after_commit
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound
from carebridge.platform.storage import sealed_storage_for, storage_for
from carebridge.records import access as record_access
from carebridge.records import observations
from carebridge.records.models import Section, Source
from carebridge.records.vitals import SPECS
from carebridge.visits import kinds, policy, service, states
from carebridge.visits.models import ReportStatus, Visit, VisitPhoto, VisitReport, VisitStatus
from carebridge.visits.report_pdf import PrintedReport, render_report
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
MOST_PHOTOS = 20
CAPTION_LENGTH = 500
# A clock a little ahead on the nurse's phone is not a reading from the future.
_FUTURE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class PhotoUpload:
    filename: str
    data: bytes
    declared_type: str | None
    caption: str | None


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _not_found() -> NotFound:
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


def _writing_refusal(visit: Visit, report: VisitReport | None) -> Conflict | None:
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
    if is_nurse and _writing_refusal(visit, report) is None:
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


async def _readable(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, *, lock: bool = False
) -> tuple[Visit, VisitReport | None]:
    """The visit and its report if ``actor`` may read the report (404 otherwise); ``lock``: both
    rows locked for a write, the visit first as every move does."""
    visit = await service.find_visit(db, scope, actor, visit_id, lock=lock)
    report = await _report(db, visit.id, lock=lock)
    if not may_read(actor, visit, report):
        raise _not_found()
    return visit, report


async def _the_nurses(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> tuple[Visit, VisitReport | None]:
    """The visit and its report, both locked, for a write by the visit's nurse."""
    visit, report = await _readable(db, scope, actor, visit_id, lock=True)
    if actor.role != Role.nurse:
        raise Forbidden("Only the visit's nurse writes its report.", code="not_the_nurse")
    return visit, report


# -- the answer -----------------------------------------------------------------------------------


def _body(scope: CallScope, report: VisitReport | None) -> ReportIn:
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
    body = _body(scope, report)
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
    visit, report = await _readable(db, scope, actor, visit_id)
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


def _new_report(scope: CallScope, visit: Visit, nurse_id: uuid.UUID) -> VisitReport:
    report = VisitReport(
        visit_id=visit.id, status=ReportStatus.draft.value, nurse_id=nurse_id, version=1
    )
    report.body_sealed = scope.keyring.seal(REPORT_BODY, report, ReportIn().model_dump_json())
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
    visit, report = await _the_nurses(db, scope, actor, visit_id)
    refusal = _writing_refusal(visit, report)
    if refusal is not None:
        raise refusal
    stored = body.model_copy(update={"vitals": [_checked_vital(v, now) for v in body.vitals]})
    if report is None:
        report = _new_report(scope, visit, actor.id)
        db.add(report)
    else:
        report.version += 1
        report.nurse_id = actor.id
    report.body_sealed = scope.keyring.seal(REPORT_BODY, report, stored.model_dump_json())
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
    subject = await record_access.subject_for(db, scope, actor, visit.patient_id, now=now)
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
    visit, report = await _the_nurses(db, scope, actor, visit_id)
    refusal = _writing_refusal(visit, report)
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
    body = _body(scope, report)
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
            f"{nurse} submitted the report of a {_label(visit).lower()} visit.",
            data={"visit_id": str(visit.id)},
            link=f"/visits/{visit.id}/report",
        )
    return await report_out(db, scope, actor, visit, report)


def _label(visit: Visit) -> str:
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
    visit, report = await _readable(db, scope, actor, visit_id, lock=True)
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


async def _send_back(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit: Visit,
    report: VisitReport,
    body: ReviewIn,
) -> None:
    report.status = ReportStatus.changes_requested.value
    report.changes_sealed = scope.keyring.seal(REPORT_CHANGES, report, body.changes)
    await service.audit(db, scope, actor, "visit.report.reviewed", visit, decision=body.decision)
    if report.nurse_id is not None:
        doctor = (await names_of(db, [actor.id])).get(actor.id, "The doctor")
        await notify(
            db,
            report.nurse_id,
            kinds.VISIT_REPORT_CHANGES.name,
            "Changes asked to your visit report",
            f"{doctor} asked for changes to the report of a {_label(visit).lower()} visit.",
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
    report.feedback_sealed = scope.keyring.seal(REPORT_FEEDBACK, report, body.feedback)
    await db.flush()
    await service.apply_move(db, scope, actor, visit, move, now, nurse_id=visit.nurse_id)
    await service.audit(
        db, scope, actor, "visit.report.reviewed", visit, decision=body.decision, rating=body.rating
    )
    doctor = (await names_of(db, [actor.id])).get(actor.id, "The doctor")
    label = _label(visit).lower()
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


# -- photos ---------------------------------------------------------------------------------------


def photo_aad(photo_id: uuid.UUID) -> bytes:
    return f"visit-photo:{photo_id}".encode()


async def add_photo(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, upload: PhotoUpload
) -> PhotoOut:
    """Check the file by its content (an image: JPEG, PNG, WebP, HEIC kept as JPEG), scan it
    when clamd is configured, seal it and store it; the report is started if it was not."""
    visit, report = await _the_nurses(db, scope, actor, visit_id)
    refusal = _writing_refusal(visit, report)
    if refusal is not None:
        raise refusal
    count = await db.scalar(
        select(func.count()).select_from(VisitPhoto).where(VisitPhoto.visit_id == visit.id)
    )
    if (count or 0) >= MOST_PHOTOS:
        raise Conflict(f"A report holds at most {MOST_PHOTOS} photos.", code="too_many_photos")
    kept = await asyncio.to_thread(
        files.inspect,
        upload.filename,
        upload.data,
        upload.declared_type,
        max_bytes=scope.settings.attachment_max_bytes,
    )
    if kept.file_type.image_format is None:
        raise Invalid("Send a photo: JPEG, PNG, WebP or HEIC.", code="photo_not_image")
    await malware.check_clean(scope.settings, kept.data, what="photo")
    if report is None:
        db.add(_new_report(scope, visit, actor.id))
    photo_id = uuid.uuid4()
    photo = VisitPhoto(
        id=photo_id,
        visit_id=visit.id,
        uploaded_by_id=actor.id,
        filename=kept.filename,
        content_type=kept.file_type.media_type,
        size=len(kept.data),
        storage_key=f"visits/{visit.id}/photos/{photo_id}",
    )
    photo.caption_sealed = scope.keyring.seal(PHOTO_CAPTION, photo, upload.caption)
    db.add(photo)
    await db.flush()
    await sealed_storage_for(scope.settings, scope.keyring).put(
        photo.storage_key, kept.data, associated_data=photo_aad(photo.id)
    )
    await db.refresh(photo)
    await service.audit(db, scope, actor, "visit.report.photo_added", visit, photo_id=str(photo.id))
    return photo_out(scope, photo)


async def _photo(db: AsyncSession, visit: Visit, photo_id: uuid.UUID) -> VisitPhoto:
    found: VisitPhoto | None = await db.scalar(
        select(VisitPhoto).where(VisitPhoto.id == photo_id, VisitPhoto.visit_id == visit.id)
    )
    if found is None:
        raise NotFound("No such photo.", code="photo_not_found")
    return found


async def photo_file(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, photo_id: uuid.UUID
) -> Response:
    """The photo, to anyone who may read the report (audited, the patient's downloads too)."""
    visit, _ = await _readable(db, scope, actor, visit_id)
    photo = await _photo(db, visit, photo_id)
    await service.audit(db, scope, actor, "visit.report.photo_read", visit, photo_id=str(photo.id))
    content = await sealed_storage_for(scope.settings, scope.keyring).get(
        photo.storage_key, associated_data=photo_aad(photo.id)
    )
    return file_response(content, photo.content_type, photo.filename)


async def delete_photo(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, photo_id: uuid.UUID
) -> None:
    """The nurse removes a photo while the report is theirs to change; the stored file goes
    once the deletion has committed."""
    visit, report = await _the_nurses(db, scope, actor, visit_id)
    refusal = _writing_refusal(visit, report)
    if refusal is not None:
        raise refusal
    photo = await _photo(db, visit, photo_id)
    key = photo.storage_key
    await db.delete(photo)
    await service.audit(
        db, scope, actor, "visit.report.photo_deleted", visit, photo_id=str(photo_id)
    )
    storage = storage_for(scope.settings)

    async def remove_file() -> None:
        await storage.delete(key)

    remove_file.__qualname__ = "visits.remove_photo_file"
    after_commit(db, remove_file)


# -- the PDF --------------------------------------------------------------------------------------


def _reading(vital: VitalIn, zone: ZoneInfo) -> str:
    spec = SPECS[vital.kind]
    unit = spec.unit_of(vital.unit or spec.unit.code) or spec.unit
    value = f"{vital.value:g}" + ("" if vital.value2 is None else f"/{vital.value2:g}")
    at = "" if vital.measured_at is None else f" ({vital.measured_at.astimezone(zone):%H:%M})"
    return f"{spec.label}: {value} {unit.label}{at}"


async def printable(
    db: AsyncSession, scope: CallScope, visit: Visit, report: VisitReport
) -> PrintedReport:
    body = _body(scope, report)
    zone = ZoneInfo(await time_zone_of(db, visit.patient_id))
    names = await names_of(
        db, {i for i in (visit.patient_id, report.nurse_id, report.reviewer_id) if i}
    )
    medications = []
    for given in body.medications_given:
        parts = [given.name, given.dose, given.route]
        if given.at is not None:
            parts.append(f"at {given.at.astimezone(zone):%H:%M}")
        medications.append(", ".join(part for part in parts if part))
    signed = report.status == ReportStatus.signed_off and report.reviewer_id is not None
    visited = visit.arrived_at or visit.completed_at or visit.window_start
    return PrintedReport(
        clinic_name=scope.settings.clinic_name,
        clinic_address=scope.settings.clinic_address,
        patient_name=names.get(visit.patient_id, ""),
        nurse_name=names.get(report.nurse_id, "") if report.nurse_id else "",
        visited_on=visited.astimezone(zone),
        service=_label(visit),
        vitals=[_reading(vital, zone) for vital in body.vitals],
        interventions=body.interventions,
        medications=medications,
        recommendations=body.recommendations,
        signed_by=names.get(report.reviewer_id) if signed and report.reviewer_id else None,
        signed_at=report.signed_at.astimezone(zone) if signed and report.signed_at else None,
    )


async def report_pdf(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> Response:
    """The report as a PDF, to anyone who may read it (the patient once it is signed off); every
    download is audited."""
    visit, report = await _readable(db, scope, actor, visit_id)
    if report is None:
        raise _not_found()
    await service.audit(db, scope, actor, "visit.report.pdf", visit, version=report.version)
    content = await asyncio.to_thread(render_report, await printable(db, scope, visit, report))
    day = (visit.completed_at or visit.window_start).date()
    return file_response(content, "application/pdf", f"visit-report-{day:%Y-%m-%d}.pdf")
