"""Live pages: the doctor's status switch (on their home, web/home.py), a doctor's status badge
and follow buttons, and the browser's ticket for the real-time stream."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from carebridge.accounts.models import Role
from carebridge.accounts.realtime import issue_ticket
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.presence import service
from carebridge.presence.models import Status
from carebridge.web.callers import WebAnyDoctor, WebPatient, WebUser, WebVisitor
from carebridge.web.forms import FormModel
from carebridge.web.home import doctor_home
from carebridge.web.pages import redirect, render
from carebridge.web.session import Csrf, CsrfHeader

router = APIRouter(include_in_schema=False)


class StatusForm(FormModel):
    """The switch's button: online, busy or offline."""

    status: str = ""


@router.post("/doctor/status", dependencies=[Csrf])
async def switch_status(
    request: Request,
    actor: WebAnyDoctor,
    db: Session,
    runtime: RuntimeDep,
    form: Annotated[StatusForm, Form()],
) -> Response:
    """The switch of the doctor's home. Going offline is always possible; going online or busy
    only for a doctor patients can see (``presence.service.may_go_online``): a doctor still
    waiting for approval opens it too, and is told why."""
    try:
        status = Status(form.status)
    except ValueError:
        return await doctor_home(
            request, actor, db, status_code=422, error="Choose online, busy or offline."
        )
    if status != Status.offline and not await service.may_go_online(db, actor.id):
        return await doctor_home(request, actor, db, status_code=403, error=service.NOT_VERIFIED)
    await service.set_status(db, runtime.settings, actor.id, status)
    return redirect("/home")


@router.get("/doctors/{doctor_id}/presence")
async def presence_controls(
    request: Request, doctor_id: uuid.UUID, actor: WebVisitor, db: Session
) -> HTMLResponse:
    """The status badge and follow button of a doctor's page (loaded into it by htmx)."""
    await service.check_listed(db, doctor_id)
    status = await service.get_status(db, doctor_id)
    following = (
        actor is not None
        and actor.role == Role.patient
        and await service.is_following(db, actor, doctor_id)
    )
    return render(request, "presence/_controls.html", actor, presence=status, following=following)


@router.post("/doctors/{doctor_id}/follow", dependencies=[Csrf])
async def follow(doctor_id: uuid.UUID, actor: WebPatient, db: Session) -> Response:
    await service.follow(db, actor, doctor_id)
    return redirect(f"/doctors/{doctor_id}")


@router.post("/doctors/{doctor_id}/unfollow", dependencies=[Csrf])
async def unfollow(doctor_id: uuid.UUID, actor: WebPatient, db: Session) -> Response:
    await service.unfollow(db, actor, doctor_id)
    return redirect(f"/doctors/{doctor_id}")


@router.post("/realtime/ticket", dependencies=[CsrfHeader])
async def browser_ticket(actor: WebUser, db: Session, runtime: RuntimeDep) -> Response:
    """A one-time ticket for this browser's session (static/js/live.js opens the stream)."""
    ticket = await issue_ticket(db, runtime.settings, actor)
    return JSONResponse({"ticket": ticket.ticket, "user_id": str(actor.id)})
