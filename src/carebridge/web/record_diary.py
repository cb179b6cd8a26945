"""The record's diary pages: the symptom diary (``/records/symptoms``: severity as a bar, the
onset in the patient's time zone, suggestions from the symptom catalog in a ``<datalist>``, an
entry deleted), allergies (the duplicate substance's 409 shown in the form), the problem list of
conditions (a condition's status changed, e.g. to resolved) and immunizations, each with its add
form; a clinician reads each section at ``/patients/{patient_id}/record/<section>`` when the
service lets them (a grant of some sections opens only those: the 404 page for the others).

The pages call ``records.diary`` with the ``Subject`` the service gives, so every rule and every
audit row is the API's; the forms are offered when ``policy.may_write`` says the service would
take them. A refused form is shown again with the service's words and what was typed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.service import time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Invalid
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.records import diary, symptom_catalog
from carebridge.records.diary_schemas import AllergySeverity, ConditionPatch, ConditionStatus
from carebridge.records.policy import may_write
from carebridge.web.callers import WebPatient, WebUser
from carebridge.web.forms import FormLanguage, FormModel, filled
from carebridge.web.pages import redirect, render
from carebridge.web.records import RecordView, opened_view, own_view, refused
from carebridge.web.scheduling.common import when
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)

Cursor = Annotated[str | None, Query(max_length=512)]
DONE = {
    "added": "Added.",
    "deleted": "Entry deleted.",
    "changed": "Status changed.",
}
ONGOING = (ConditionStatus.active, ConditionStatus.recurrence, ConditionStatus.relapse)


class DiaryForm(FormModel):
    """Every field of the four add forms, as text (each form posts its own)."""

    name: str = ""
    severity: str = ""
    onset_at: str = ""
    duration_minutes: str = ""
    substance: str = ""
    reaction: str = ""
    noted_on: str = ""
    code: str = ""
    status: str = ""
    onset_on: str = ""
    resolved_on: str = ""
    vaccine: str = ""
    dose_number: str = ""
    given_on: str = ""
    lot: str = ""
    given_by: str = ""
    note: str = ""


@dataclass(frozen=True)
class DiaryPage:
    """One section's page: its service section, address, title, the fields its form posts and
    what the form calls them."""

    spec: diary.DiarySection
    path: str
    title: str
    fields: tuple[str, ...]
    language: FormLanguage
    # A typed local date and time (the patient's zone) becomes an instant: these fields.
    instants: tuple[str, ...] = ()

    @property
    def template(self) -> str:
        return f"records/diary_{self.path}.html"


SYMPTOMS = DiaryPage(
    diary.SYMPTOMS, "symptoms", "Symptom diary",
    ("name", "severity", "onset_at", "duration_minutes", "note"),
    FormLanguage({"name": "Symptom", "severity": "Severity", "onset_at": "Began",
                  "duration_minutes": "Duration (minutes)", "note": "Note"}),
    instants=("onset_at",),
)  # fmt: skip
ALLERGIES = DiaryPage(
    diary.ALLERGIES, "allergies", "Allergies",
    ("substance", "reaction", "severity", "noted_on", "note"),
    FormLanguage({"substance": "Substance", "reaction": "Reaction", "severity": "Severity",
                  "noted_on": "Noted on", "note": "Note"}),
)  # fmt: skip
CONDITIONS = DiaryPage(
    diary.CONDITIONS, "conditions", "Conditions",
    ("name", "code", "status", "onset_on", "resolved_on", "note"),
    FormLanguage({"name": "Condition", "code": "Code", "status": "Status", "onset_on": "Onset",
                  "resolved_on": "Resolved on", "note": "Note"}),
)  # fmt: skip
IMMUNIZATIONS = DiaryPage(
    diary.IMMUNIZATIONS, "immunizations", "Immunizations",
    ("vaccine", "dose_number", "given_on", "lot", "given_by", "note"),
    FormLanguage({"vaccine": "Vaccine", "dose_number": "Dose number", "given_on": "Given on",
                  "lot": "Lot", "given_by": "Given by", "note": "Note"}),
)  # fmt: skip
PAGES = {page.path: page for page in (SYMPTOMS, ALLERGIES, CONDITIONS, IMMUNIZATIONS)}


async def _zone(db: Session, view: RecordView) -> str:
    return await time_zone_of(db, view.subject.patient_id)


async def section_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    view: RecordView,
    page: DiaryPage,
    *,
    cursor: str | None = None,
    status_code: int = 200,
    **values: Any,
) -> Response:
    """The section's entries newest first (``diary.list_entries``: 404 for a section the
    caller may not read) and the patient's add form, when the service would take it (a
    clinician's view is read-only)."""
    entries = await diary.list_entries(
        db, scope, page.spec, view.subject, cursor=cursor, limit=MAX_PAGE_SIZE
    )
    zone = await _zone(db, view)
    values.setdefault("notice", DONE.get(request.query_params.get("done") or ""))
    return render(
        request,
        page.template,
        actor,
        status_code=status_code,
        view=view,
        page=page,
        entries=entries.items,
        next_cursor=entries.next_cursor,
        may_add=view.own and may_write(view.subject, page.spec.section),
        zone=zone,
        when=when,
        now_local=datetime.now(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M"),
        today=datetime.now(ZoneInfo(zone)).date().isoformat(),
        catalog=symptom_catalog.CATALOG,
        allergy_severities=list(AllergySeverity),
        statuses=list(ConditionStatus),
        ongoing=ONGOING,
        **values,
    )


def _local_instant(typed: str, zone: str, label: str) -> datetime:
    """A ``datetime-local`` value, in the patient's time zone."""
    try:
        local = datetime.fromisoformat(typed)
    except ValueError:
        raise Invalid(f"{label}: a date and time.", code="invalid_time") from None
    return local.replace(tzinfo=ZoneInfo(zone)) if local.tzinfo is None else local


async def _body(db: Session, view: RecordView, page: DiaryPage, form: DiaryForm) -> Any:
    """The form's fields checked by the section's schema (a field left empty is not given)."""
    typed: dict[str, Any] = filled(**{name: getattr(form, name).strip() for name in page.fields})
    for name in page.instants:
        if name in typed:
            label = str(page.language.labels.get(name, name))
            typed[name] = _local_instant(typed[name], await _zone(db, view), label)
    return page.spec.create.model_validate(typed)


async def add_entry(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    view: RecordView,
    page: DiaryPage,
    form: DiaryForm,
) -> Response:
    """The form's entry through ``diary.add``; the page again with the service's words (a
    duplicate allergy's 409, a future date's 422) and what was typed when refused."""
    try:
        await diary.add(db, scope, page.spec, view.subject, await _body(db, view, page, form))
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        error = page.language.explain(exc)
        return await section_page(
            request, actor, db, scope, view, page, status_code=status, error=error, form=form
        )
    return redirect(f"{view.base}/{page.path}?done=added")


# -- the patient's own sections -------------------------------------------------------------------


def _own_routes(page: DiaryPage) -> None:
    """``GET`` and ``POST /records/<section>`` for one section (the same handlers for each)."""

    async def show(
        request: Request, actor: WebPatient, db: Session, scope: Scope, cursor: Cursor = None
    ) -> Response:
        return await section_page(request, actor, db, scope, own_view(actor), page, cursor=cursor)

    async def add(
        request: Request,
        actor: WebPatient,
        db: Session,
        scope: Scope,
        form: Annotated[DiaryForm, Form()],
    ) -> Response:
        return await add_entry(request, actor, db, scope, own_view(actor), page, form)

    show.__doc__ = f"Your {page.title.lower()}: the entries, newest first, and the add form."
    add.__doc__ = f"Add to your {page.title.lower()} (the form again with what to fix)."
    for handler in (show, add):
        handler.__name__ = handler.__qualname__ = f"{handler.__name__}_{page.path}"
    router.get(f"/records/{page.path}")(show)
    router.post(f"/records/{page.path}", dependencies=[Csrf])(add)


def _clinician_route(page: DiaryPage) -> None:
    """``GET /patients/{patient_id}/record/<section>``: read-only, audited by the service."""

    async def read(
        request: Request,
        patient_id: uuid.UUID,
        actor: WebUser,
        db: Session,
        scope: Scope,
        cursor: Cursor = None,
    ) -> Response:
        view = await opened_view(request, actor, db, scope, patient_id)
        if isinstance(view, Response):
            return view
        return await section_page(request, actor, db, scope, view, page, cursor=cursor)

    read.__doc__ = f"A clinician reads a patient's {page.title.lower()} (audited)."
    read.__name__ = read.__qualname__ = f"read_{page.path}"
    router.get(f"/patients/{{patient_id}}/record/{page.path}")(read)


for _page in PAGES.values():
    _own_routes(_page)
    _clinician_route(_page)


@router.post("/records/symptoms/{symptom_id}/delete", dependencies=[Csrf])
async def delete_symptom(
    symptom_id: uuid.UUID, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    """Delete a diary entry (someone else's: the 404 page)."""
    await diary.delete(db, scope, diary.SYMPTOMS, own_view(actor).subject, symptom_id)
    return redirect("/records/symptoms?done=deleted")


class StatusForm(FormModel):
    status: str = ""
    resolved_on: str = ""


def _status_change(form: StatusForm, today: Callable[[], date]) -> dict[str, Any]:
    """A new status; an ongoing one clears the resolved date, another one sets it (today
    unless a day is typed)."""
    status = form.status.strip()
    if not status:
        return {}
    if status in ONGOING:
        return {"status": status, "resolved_on": None}
    return {"status": status, "resolved_on": form.resolved_on.strip() or today().isoformat()}


@router.post("/records/conditions/{condition_id}/status", dependencies=[Csrf])
async def change_condition_status(
    request: Request,
    condition_id: uuid.UUID,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    form: Annotated[StatusForm, Form()],
) -> Response:
    """Change a condition's status (resolved: on the day typed, or today); someone else's
    condition is the 404 page."""
    view = own_view(actor)
    zone = ZoneInfo(await _zone(db, view))
    try:
        change = _status_change(form, lambda: datetime.now(zone).date())
        body = ConditionPatch.model_validate(change)
        await diary.update(db, scope, diary.CONDITIONS, view.subject, condition_id, body)
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        error = CONDITIONS.language.explain(exc)
        return await section_page(
            request, actor, db, scope, view, CONDITIONS, status_code=status, error=error
        )
    return redirect("/records/conditions?done=changed")
