"""The medication pages of the health record: today's doses with a "Taken" and a "Skip" button
on each one still to take, the medication list (active ones first, then stopped or ended ones)
with each one's schedule in words and its adherence over 30 days, the add form, and the
patient's issued prescriptions to add in one step; a clinician reads the list, without forms, at
``/patients/{patient_id}/record/medications`` when the service lets them read the section.

The pages call the services of ``records.medications`` and ``records.medication_doses`` with
the ``Subject`` the record gives (``web/records.py``), so the rules, the 422 messages and the
audit rows are the API's.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.service import time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.prescriptions import service as prescriptions
from carebridge.prescriptions.models import PrescriptionStatus
from carebridge.prescriptions.schemas import PrescriptionSummary
from carebridge.records import medication_doses, medications
from carebridge.records.medications_schemas import (
    Adherence,
    DoseIn,
    MedicationIn,
    MedicationOut,
)
from carebridge.web.callers import WebPatient, WebUser
from carebridge.web.forms import FormLanguage, FormModel, Label, filled
from carebridge.web.pages import redirect, render
from carebridge.web.records import RecordView, opened_view, own_view, refused
from carebridge.web.scheduling.common import when
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)

TIME_INPUTS = 4  # the add form's times of day (the API takes up to 12)
PRESCRIPTIONS = 25  # the newest prescriptions offered to add
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # ISO 1..7
TO_MARK = ("upcoming", "due", "missed")
STATUS_WORDS = {
    "upcoming": "Upcoming",
    "due": "Due now",
    "missed": "Missed",
    "taken": "Taken",
    "skipped": "Skipped",
}
DONE = {
    "added": "Medication added.",
    "taken": "Dose marked taken.",
    "skipped": "Dose marked skipped.",
    "stopped": "Medication stopped: it stays in your list, without reminders.",
    "prescribed": "Added from the prescription.",
    "already": "This prescription is already in your medications.",
}
MEDICATION = FormLanguage(
    {
        "name": "Name",
        "dose": "Dose",
        "route": "Route",
        "times": Label("Times of day", "times"),
        "times.*": "Time of day {n}",
        "weekdays": "Weekdays",
        "weekdays.*": "Weekdays",
        "starts_on": "Start",
        "ends_on": "End",
        "reminders": "Reminders",
        "instructions": "Instructions",
    }
)
DOSE = FormLanguage({"local_date": "Day", "local_time": "Time", "status": "Taken or skipped"})


def schedule_words(medication: MedicationOut) -> str:
    """ "Every day at 08:00 and 20:00", "Mon, Thu at 09:00", "As needed (no set times)"."""
    if not medication.times:
        return "As needed (no set times)"
    days = (
        ", ".join(WEEKDAYS[day - 1] for day in medication.weekdays)
        if medication.weekdays
        else "Every day"
    )
    times = [f"{t:%H:%M}" for t in medication.times]
    said = times[0] if len(times) == 1 else ", ".join(times[:-1]) + " and " + times[-1]
    return f"{days} at {said}"


def adherence_words(adherence: Adherence) -> str:
    """ "taken 24 of 28 doses, 86 %" over the last 30 days."""
    if adherence.rate is None:
        return "no doses due in the last 30 days yet"
    percent = round(adherence.rate * 100)
    return f"taken {adherence.taken} of {adherence.scheduled} doses, {percent} %"


async def _issued(
    db: Session, actor: Actor, listed: list[MedicationOut]
) -> list[tuple[PrescriptionSummary, bool]]:
    """The patient's issued prescriptions (newest first), each with whether it is in the list
    shown."""
    page = await prescriptions.list_prescriptions(
        db, actor, patient_id=actor.id, limit=PRESCRIPTIONS
    )
    added = {m.prescription_id for m in listed if m.prescription_id}
    issued = [p for p in page.items if p.status == PrescriptionStatus.issued]
    return [(p, p.id in added) for p in issued]


async def _page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    view: RecordView,
    status_code: int = 200,
    cursor: str | None = None,
    **values: Any,
) -> Response:
    """The list (and, for the patient, today's doses, the forms and the prescriptions)."""
    page = await medications.list_medications(
        db, scope, view.subject, active=None, cursor=cursor, limit=MAX_PAGE_SIZE
    )
    own = view.own
    today = await medication_doses.day(db, scope, view.subject, None) if own else None
    values.setdefault("notice", DONE.get(request.query_params.get("done") or ""))
    return render(
        request,
        "records/medications.html",
        actor,
        status_code=status_code,
        view=view,
        listed=page.items,
        next_cursor=page.next_cursor,
        today=today,
        prescribed=await _issued(db, actor, page.items) if own else [],
        zone=await time_zone_of(db, view.subject.patient_id),
        weekdays=WEEKDAYS,
        time_inputs=TIME_INPUTS,
        to_mark=TO_MARK,
        status_words=STATUS_WORDS,
        schedule_words=schedule_words,
        adherence_words=adherence_words,
        when=when,
        **values,
    )


Cursor = Annotated[str | None, Query(max_length=512)]


@router.get("/records/medications")
async def medications_page(
    request: Request, actor: WebPatient, db: Session, scope: Scope, cursor: Cursor = None
) -> Response:
    """Today's doses, your medications with their adherence, the add form, your prescriptions."""
    return await _page(request, actor, db, scope, own_view(actor), cursor=cursor)


class MedicationForm(FormModel):
    """A medication as the add form posts it: a few times of day (empty ones left out), the
    weekdays ticked (none: every day), the dates, the reminders checkbox."""

    name: str = ""
    dose: str = ""
    route: str = ""
    times: list[str] = []
    weekdays: list[str] = []
    starts_on: str = ""
    ends_on: str = ""
    reminders: str = ""
    instructions: str = ""


@router.post("/records/medications", dependencies=[Csrf])
async def add_medication(
    request: Request,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    form: Annotated[MedicationForm, Form()],
) -> Response:
    """The form's medication through ``medications.add``; the form again, as typed, with the
    service's words when it is refused."""
    view = own_view(actor)
    fields = filled(
        name=form.name.strip(),
        dose=form.dose.strip(),
        route=form.route.strip(),
        starts_on=form.starts_on.strip(),
        ends_on=form.ends_on.strip(),
        instructions=form.instructions.strip(),
    )
    times = [t.strip() for t in form.times if t.strip()]
    try:
        body = MedicationIn.model_validate(
            {**fields, "times": times, "weekdays": form.weekdays, "reminders": bool(form.reminders)}
        )
        await medications.add(db, scope, view.subject, body)
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        error = MEDICATION.explain(exc)
        return await _page(request, actor, db, scope, view, status, error=error, form=form)
    return redirect("/records/medications?done=added")


class DoseForm(FormModel):
    local_date: str = ""
    local_time: str = ""
    status: str = ""


@router.post("/records/medications/{medication_id}/doses", dependencies=[Csrf])
async def mark_dose(
    request: Request,
    medication_id: uuid.UUID,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    form: Annotated[DoseForm, Form()],
) -> Response:
    """A dose marked taken or skipped (``medication_doses.mark``; again: the new mark wins)."""
    view = own_view(actor)
    try:
        body = DoseIn.model_validate(
            filled(local_date=form.local_date, local_time=form.local_time, status=form.status)
        )
        dose = await medication_doses.mark(db, scope, view.subject, medication_id, body)
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        return await _page(request, actor, db, scope, view, status, error=DOSE.explain(exc))
    anchor = f"dose-{medication_id}-{dose.local_time:%H%M}"
    return redirect(f"/records/medications?done={dose.status}#{anchor}")


@router.post("/records/medications/{medication_id}/stop", dependencies=[Csrf])
async def stop_medication(
    medication_id: uuid.UUID, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    """ "I stopped taking it" (someone else's medication: the 404 page)."""
    await medications.stop(db, scope, own_view(actor).subject, medication_id)
    return redirect("/records/medications?done=stopped")


@router.post("/records/medications/from-prescription/{prescription_id}", dependencies=[Csrf])
async def add_prescription(
    request: Request, prescription_id: uuid.UUID, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    """Each line of an issued prescription of the patient's into the list, once
    (``medications.from_prescription``; not theirs or a draft: the 404 page)."""
    view = own_view(actor)
    try:
        added = await medications.from_prescription(db, scope, view.subject, prescription_id)
    except CareBridgeError as exc:
        status = await refused(db, exc)
        return await _page(request, actor, db, scope, view, status, error=exc.detail)
    return redirect(f"/records/medications?done={'prescribed' if added.added else 'already'}")


@router.get("/patients/{patient_id}/record/medications")
async def patient_medications_page(
    request: Request,
    patient_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
    cursor: Cursor = None,
) -> Response:
    """A clinician's reading of the medication list (audited), without forms: when their basis
    covers the section; the 404 page otherwise."""
    view = await opened_view(request, actor, db, scope, patient_id)
    if isinstance(view, Response):
        return view
    return await _page(request, actor, db, scope, view, cursor=cursor)
