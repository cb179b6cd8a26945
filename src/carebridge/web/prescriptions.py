"""Prescription pages: the doctor writes one from an appointment's page, issues or cancels it;
the patient sees theirs and downloads the PDF. Forms post to the same services as the API, so
every rule (who, when, immutability) and every audit row is the API's.

Mounted with the other pages through ``registry.PAGE_ROUTER_MODULES``.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ConfigDict, ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.platform.context import CallScope
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import Scope, Session
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import CareBridgeError, NotFound
from carebridge.prescriptions import documents, service
from carebridge.prescriptions.policy import allowed_actions
from carebridge.prescriptions.schemas import PrescriptionIn
from carebridge.scheduling import service as scheduling
from carebridge.web.callers import WebAnyDoctor, WebUser
from carebridge.web.forms import FormLanguage, FormModel, Label
from carebridge.web.pages import redirect, render
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)

FORM_LINES = 5
LINE_FIELDS = ("name", "strength", "dose", "route", "frequency", "duration", "quantity")
DONE = {
    "written": "Draft saved. Check it, then issue it.",
    "issued": "Issued. The patient has been told; the PDF is being prepared.",
    "cancelled": "Prescription cancelled.",
}


# The form's words: "Medication 2" is the second block of the form, whichever blocks before it
# were left empty (``_fields`` tells which form row each line came from).
PRESCRIPTION = FormLanguage(
    {
        **{f"lines.*.{f}": f"Medication {{n}} {f}" for f in (*LINE_FIELDS, "instructions")},
        "lines.*.refills": Label("Medication {n}", "refills"),
        "lines": Label("Medications", "medications"),
    }
)


class PrescriptionForm(FormModel):
    """The doctor's form: diagnosis, notes and ``FORM_LINES`` blocks of medication fields, each
    posted as ``line<n>_<field>`` (``line2_dose``), kept by name (the extra fields)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    diagnosis: str = ""
    notes: str = ""

    def get(self, name: str, default: str = "") -> str:
        """A field as posted (the form shows it again): ``diagnosis`` or ``line2_dose``."""
        value = getattr(self, name) if name in type(self).model_fields else None
        if value is None:
            value = (self.model_extra or {}).get(name, default)
        return str(value[-1] if isinstance(value, list) else value)

    def fields(self) -> tuple[dict[str, Any], list[int]]:
        """The prescription's fields as the schema reads them, and the form's number of each
        of its lines (empty blocks are skipped)."""
        lines: list[dict[str, Any]] = []
        numbers: list[int] = []
        for number in range(1, FORM_LINES + 1):
            values = {f: self.get(f"line{number}_{f}").strip() for f in LINE_FIELDS}
            if not values["name"]:
                continue
            line: dict[str, Any] = {k: v for k, v in values.items() if v}
            line["refills"] = self.get(f"line{number}_refills", "0").strip() or "0"
            extra = self.get(f"line{number}_instructions").strip()
            if extra:
                line["instructions"] = extra
            lines.append(line)
            numbers.append(number)
        texts = {k: self.get(k).strip() or None for k in ("diagnosis", "notes")}
        return {**texts, "lines": lines}, numbers


async def _form_page(
    request: Request,
    actor: Actor,
    db: Session,
    appointment_id: uuid.UUID,
    status_code: int = 200,
    **values: Any,
) -> Response:
    appointment = await scheduling.get_appointment(db, actor, appointment_id)
    return render(
        request,
        "prescriptions/new.html",
        actor,
        status_code=status_code,
        appointment=appointment,
        form_lines=FORM_LINES,
        **values,
    )


@router.get("/appointments/{appointment_id}/prescriptions/new")
async def new_prescription_page(
    request: Request, appointment_id: uuid.UUID, actor: WebAnyDoctor, db: Session
) -> Response:
    """The doctor's form: diagnosis, notes and up to five medication lines."""
    return await _form_page(request, actor, db, appointment_id)


@router.post("/appointments/{appointment_id}/prescriptions", dependencies=[Csrf])
async def write_prescription(
    request: Request,
    appointment_id: uuid.UUID,
    actor: WebAnyDoctor,
    db: Session,
    scope: Scope,
    form: Annotated[PrescriptionForm, Form()],
) -> Response:
    fields, numbers = form.fields()
    try:
        body = PrescriptionIn.model_validate(fields)
    except ValidationError as exc:
        error = PRESCRIPTION.explain(exc, rows={"lines": numbers})
        return await _form_page(request, actor, db, appointment_id, 422, error=error, form=form)
    try:
        written = await service.write(db, scope, actor, appointment_id, body)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        if isinstance(exc, NotFound):
            raise
        return await _form_page(
            request, actor, db, appointment_id, exc.status, error=exc.detail, form=form
        )
    return redirect(f"/prescriptions/{written.id}?done=written")


@router.get("/prescriptions")
async def prescriptions_page(request: Request, actor: WebUser, db: Session) -> Response:
    """Your prescriptions (as patient: issued to you; as doctor: written by you)."""
    page = await service.list_prescriptions(db, actor, limit=100)
    return render(
        request,
        "prescriptions/list.html",
        actor,
        items=page.items,
        actions=partial(allowed_actions, actor),
    )


async def _detail_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    prescription_id: uuid.UUID,
    status_code: int = 200,
    **values: Any,
) -> Response:
    prescription = await service.read(db, scope, actor, prescription_id)
    return render(
        request,
        "prescriptions/detail.html",
        actor,
        status_code=status_code,
        p=prescription,
        actions=allowed_actions(actor, prescription),
        **values,
    )


@router.get("/prescriptions/{prescription_id}")
async def prescription_page(
    request: Request,
    prescription_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
) -> Response:
    """One prescription (the read of its diagnosis is audited); others' are 404."""
    notice = DONE.get(request.query_params.get("done") or "")
    return await _detail_page(request, actor, db, scope, prescription_id, notice=notice)


class PrescriptionMoveForm(FormModel):
    """Issue or cancel (``move``), with the reason for cancelling."""

    move: str = ""
    reason: str = ""


@router.post("/prescriptions/{prescription_id}/act", dependencies=[Csrf])
async def act(
    request: Request,
    prescription_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
    form: Annotated[PrescriptionMoveForm, Form()],
) -> Response:
    """Issue or cancel; back to the prescription's page."""
    move = form.move
    try:
        if move == "issue":
            await service.issue(db, scope, actor, prescription_id)
            done = "issued"
        else:
            reason = form.reason.strip()[:500] or "Cancelled by the doctor"
            await service.cancel(db, scope, actor, prescription_id, reason)
            done = "cancelled"
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        if isinstance(exc, NotFound):
            raise
        return await _detail_page(
            request, actor, db, scope, prescription_id, exc.status, error=exc.detail
        )
    return redirect(f"/prescriptions/{prescription_id}?done={done}")


@router.get("/prescriptions/{prescription_id}/pdf")
async def prescription_pdf(
    prescription_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
) -> Response:
    """The PDF (each download audited); 409 while it is being prepared."""
    pdf = await documents.download(db, scope, actor, prescription_id)
    return file_response(pdf.content, "application/pdf", pdf.filename)
