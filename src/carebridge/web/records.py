"""Health record pages: the patient's dashboard (the latest value of each kind, flagged in words
and colour, and the BMI), a chart of each kind over a week, a month or a year with the normal
range shaded, its recent readings and the form to add one; the same pages, read-only unless the
service lets them write, for a clinician at ``/patients/{patient_id}/record``. A doctor who may
not open a record gets the 404 page with the break-the-glass form.

The pages call the records services (``records.access``, ``observations``, ``trends``) with the
``Subject`` the service gives, so every rule (who reads which section, who writes) and every
audit row is the API's. Sharing and the access log are in ``web/record_sharing.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import CLINICIAN_ROLES, Role, UserStatus
from carebridge.accounts.service import names_of, time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Forbidden, Invalid, NotFound
from carebridge.records import access, observations, trends
from carebridge.records.models import Section
from carebridge.records.policy import Subject, may_break_glass, may_write, own
from carebridge.records.schemas import EmergencyIn, ObservationIn
from carebridge.records.trend_schemas import Bucket
from carebridge.records.vitals import SPECS, Kind, KindSpec
from carebridge.web.callers import WebPatient, WebUser
from carebridge.web.forms import FormLanguage, FormModel, filled
from carebridge.web.pages import redirect, render
from carebridge.web.scheduling.common import when
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)

# The chart's spans: day buckets for a week and a month, ISO weeks for a year.
SPANS: dict[str, tuple[timedelta, Bucket]] = {
    "week": (timedelta(days=7), Bucket.day),
    "month": (timedelta(days=30), Bucket.day),
    "year": (timedelta(days=365), Bucket.week),
}
DEFAULT_SPAN = "month"
CHARTED = tuple(kind for kind, spec in SPECS.items() if not spec.derived)
RECENT = 20
FLAG_WORDS = {
    "normal": "Normal",
    "low": "Low",
    "high": "High",
    "critical_low": "Very low: seek advice",
    "critical_high": "Very high: seek advice",
}
DONE = {
    "added": "Reading added.",
    "opened": "Emergency access opened: the patient and the administrators have been told.",
}

READING = FormLanguage(
    {"value": "Reading", "value2": "Diastolic", "unit": "Unit", "measured_at": "Measured at"}
)
PRESSURE = FormLanguage(
    {"value": "Systolic", "value2": "Diastolic", "unit": "Unit", "measured_at": "Measured at"}
)
EMERGENCY = FormLanguage({"reason": "Reason"})


@dataclass(frozen=True)
class RecordView:
    """Whose record a page shows, to whom, and where its links point."""

    subject: Subject
    base: str  # "/records", or "/patients/{id}/record" for a clinician
    patient_name: str

    @property
    def own(self) -> bool:
        return not self.subject.by_clinician

    @property
    def may_add(self) -> bool:
        """The add-a-reading form is offered when the service would take it."""
        return may_write(self.subject, Section.observations)


def spec_of(kind: Kind) -> KindSpec:
    """A kind that has a chart (the BMI has none: it is derived); else no such page."""
    spec = SPECS[kind]
    if spec.derived:
        raise NotFound("Page not found")
    return spec


async def refused(db: Session, exc: ValidationError | CareBridgeError) -> int:
    """The status of a form shown again after the schema or the service refused it (its
    writes undone); a record or object the caller may not see is the 404 page."""
    if isinstance(exc, ValidationError):
        return 422
    await undo_unless_kept(db, exc)
    if isinstance(exc, NotFound):
        raise exc
    return exc.status


def number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _values(**values: Any) -> dict[str, Any]:
    return {"flag_words": FLAG_WORDS, "specs": SPECS, "number": number, "when": when, **values}


async def dashboard(
    request: Request, actor: Actor, db: Session, scope: CallScope, view: RecordView
) -> Response:
    latest = await trends.latest(db, scope, view.subject)
    by_kind = {o.kind: o for o in latest.items}
    notice = DONE.get(request.query_params.get("done") or "")
    zone = await time_zone_of(db, view.subject.patient_id)
    return render(
        request,
        "records/dashboard.html",
        actor,
        **_values(
            view=view, latest=latest, by_kind=by_kind, kinds=CHARTED, zone=zone, notice=notice
        ),
    )


async def kind_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    view: RecordView,
    kind: Kind,
    status_code: int = 200,
    **values: Any,
) -> Response:
    spec = spec_of(kind)
    span = request.query_params.get("span") or DEFAULT_SPAN
    length, bucket = SPANS.get(span) or SPANS[DEFAULT_SPAN]
    now = datetime.now(UTC)
    series = await trends.series(
        db, scope, view.subject, kind, since=now - length, until=now, bucket=bucket, now=now
    )
    recent = await observations.list_observations(
        db, scope, view.subject, kind=kind, since=None, until=None, cursor=None, limit=RECENT
    )
    values.setdefault("notice", DONE.get(request.query_params.get("done") or ""))
    return render(
        request,
        "records/observations.html",
        actor,
        status_code=status_code,
        **_values(
            view=view,
            spec=spec,
            kind=kind,
            span=span if span in SPANS else DEFAULT_SPAN,
            spans=SPANS,
            series=series,
            chart=series.model_dump(mode="json"),
            recent=recent.items,
            zone=series.time_zone,
            **values,
        ),
    )


class ReadingForm(FormModel):
    """A reading as the form posts it: the value (the systolic one of a blood pressure), the
    diastolic one, the unit, when it was measured (the patient's local time; now if empty) and
    a note."""

    value: str = ""
    value2: str = ""
    unit: str = ""
    measured_at: str = ""
    note: str = ""


async def _measured_at(db: Session, view: RecordView, form: ReadingForm) -> dict[str, Any]:
    """The local time typed, in the patient's time zone."""
    typed = form.measured_at.strip()
    if not typed:
        return {}
    try:
        local = datetime.fromisoformat(typed)
    except ValueError:
        raise Invalid("Measured at: a date and time.", code="invalid_time") from None
    zone = ZoneInfo(await time_zone_of(db, view.subject.patient_id))
    return {"measured_at": local.replace(tzinfo=zone) if local.tzinfo is None else local}


async def add_reading(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    view: RecordView,
    kind: Kind,
    form: ReadingForm,
) -> Response:
    """The form's reading through ``observations.add``; the form again with the service's
    words (and what was typed) when it is refused."""
    spec_of(kind)
    language = PRESSURE if SPECS[kind].second is not None else READING
    fields = filled(
        value=form.value.strip(),
        value2=form.value2.strip(),
        unit=form.unit.strip(),
        note=form.note.strip(),
    )
    try:
        body = ObservationIn.model_validate(
            {"kind": kind.value, **fields, **await _measured_at(db, view, form)}
        )
        await observations.add(db, scope, view.subject, body)
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        error = language.explain(exc)
        return await kind_page(
            request, actor, db, scope, view, kind, status, error=error, form=form
        )
    span = request.query_params.get("span")
    again = f"&span={span}" if span in SPANS else ""
    return redirect(f"{view.base}/observations/{kind.value}?done=added{again}")


# -- the patient's own record ---------------------------------------------------------------------


def own_view(actor: Actor) -> RecordView:
    return RecordView(own(actor), "/records", "")


@router.get("/records")
async def records_page(request: Request, actor: WebPatient, db: Session, scope: Scope) -> Response:
    """Your health record: the latest value of each kind, the BMI, links to each chart."""
    return await dashboard(request, actor, db, scope, own_view(actor))


@router.get("/records/observations/{kind}")
async def own_kind_page(
    request: Request, kind: Kind, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    """One kind's chart (``?span=week|month|year``), recent readings and the add form."""
    return await kind_page(request, actor, db, scope, own_view(actor), kind)


@router.post("/records/observations/{kind}", dependencies=[Csrf])
async def own_add_reading(
    request: Request,
    kind: Kind,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    form: Annotated[ReadingForm, Form()],
) -> Response:
    return await add_reading(request, actor, db, scope, own_view(actor), kind, form)


# -- a clinician's reading of a patient's record --------------------------------------------------


async def _closed(
    request: Request, actor: Actor, patient_id: uuid.UUID, status_code: int = 404, **values: Any
) -> Response:
    """No record this person may open: the 404 page; a doctor's has the break-the-glass form."""
    return render(
        request,
        "records/closed.html",
        actor,
        status_code=status_code,
        patient_id=patient_id,
        may_break_glass=may_break_glass(actor),
        **values,
    )


def check_approved(actor: Actor) -> None:
    """A doctor or nurse reads records once approved, as the API's ``ClinicianActor``."""
    if actor.role in CLINICIAN_ROLES and actor.status != UserStatus.active:
        raise Forbidden("Your account is waiting for approval.", code="approval_pending")


async def clinician_view(
    db: Session, scope: CallScope, actor: Actor, patient_id: uuid.UUID
) -> RecordView:
    """The record as the service opens it for ``actor`` (NotFound without a basis)."""
    subject = await access.subject_for(db, scope, actor, patient_id)
    name = (await names_of(db, [patient_id])).get(patient_id, "")
    return RecordView(subject, f"/patients/{patient_id}/record", name)


async def opened_view(
    request: Request, actor: Actor, db: Session, scope: CallScope, patient_id: uuid.UUID
) -> RecordView | Response:
    """The record a clinician's page shows (every section's page opens it here), or the page
    to answer instead: the patient's own pages, or the 404 page (with the break-the-glass form
    for a doctor)."""
    check_approved(actor)
    if actor.role == Role.patient and actor.id == patient_id:
        return redirect(
            "/records" + request.url.path.removeprefix(f"/patients/{patient_id}/record")
        )
    try:
        return await clinician_view(db, scope, actor, patient_id)
    except NotFound:
        return await _closed(request, actor, patient_id)


@router.get("/patients/{patient_id}/record")
async def patient_record_page(
    request: Request, patient_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """A clinician's view of a patient's record (each read audited): on a care relationship,
    a grant or an emergency opening; the 404 page otherwise."""
    view = await opened_view(request, actor, db, scope, patient_id)
    if isinstance(view, Response):
        return view
    return await dashboard(request, actor, db, scope, view)


@router.get("/patients/{patient_id}/record/observations/{kind}")
async def patient_kind_page(
    request: Request,
    patient_id: uuid.UUID,
    kind: Kind,
    actor: WebUser,
    db: Session,
    scope: Scope,
) -> Response:
    view = await opened_view(request, actor, db, scope, patient_id)
    if isinstance(view, Response):
        return view
    return await kind_page(request, actor, db, scope, view, kind)


@router.post("/patients/{patient_id}/record/observations/{kind}", dependencies=[Csrf])
async def clinician_add_reading(
    request: Request,
    patient_id: uuid.UUID,
    kind: Kind,
    actor: WebUser,
    db: Session,
    scope: Scope,
    form: Annotated[ReadingForm, Form()],
) -> Response:
    """A clinician's observation (source ``clinician``): while caring for the patient or
    under an emergency opening; a grant is for reading (403 shown in the form)."""
    view = await opened_view(request, actor, db, scope, patient_id)
    if isinstance(view, Response):
        return view
    return await add_reading(request, actor, db, scope, view, kind, form)


class EmergencyForm(FormModel):
    reason: str = ""


@router.post("/patients/{patient_id}/record/emergency", dependencies=[Csrf])
async def break_glass(
    request: Request,
    patient_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
    form: Annotated[EmergencyForm, Form()],
) -> Response:
    """A doctor opens the record in an emergency with a written reason (``access.break_glass``:
    audited, the patient and the administrators told); then the record opens."""
    check_approved(actor)
    try:
        body = EmergencyIn.model_validate(filled(reason=form.reason))
        await access.break_glass(db, scope, actor, patient_id, body)
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        if status == 409:  # already open: nothing to break
            return redirect(f"/patients/{patient_id}/record")
        error = EMERGENCY.explain(exc)
        return await _closed(request, actor, patient_id, status, error=error, form=form)
    return redirect(f"/patients/{patient_id}/record?done=opened")
