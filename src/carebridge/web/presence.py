"""Live pages: the signed-in home (patients: doctors online now, live; doctors: the status
switch), follow buttons, and the browser's ticket for the real-time stream."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, UserStatus
from carebridge.accounts.realtime import issue_ticket
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import Forbidden
from carebridge.presence import service
from carebridge.presence.models import Status
from carebridge.web.pages import redirect, render
from carebridge.web.session import Csrf, CsrfHeader, WebUser, WebVisitor

router = APIRouter(include_in_schema=False)


def _only(actor: Actor, role: Role) -> None:
    if actor.role != role:
        raise Forbidden("This page is not for your role.", code="wrong_role")
    if role != Role.patient and actor.status != UserStatus.active:
        raise Forbidden("Your account is waiting for approval.", code="approval_pending")


async def _doctor_home(
    request: Request, actor: Actor, db: Session, status_code: int = 200, **values: object
) -> Response:
    """The status switch. The badge follows the topic only while the doctor is listed: the
    topic does not carry anyone else's status."""
    return render(
        request,
        "presence/doctor_home.html",
        actor,
        status_code=status_code,
        presence=await service.get_status(db, actor.id),
        listed=await service.is_listed(db, actor.id),
        **values,
    )


@router.get("/home")
async def home(request: Request, actor: WebUser, db: Session) -> Response:
    """Where people land after signing in."""
    if actor.role == Role.doctor:
        return await _doctor_home(request, actor, db)
    if actor.role == Role.patient:
        snapshot = await service.live_snapshot(db)
        page = await service.following(db, actor, None, 50)
        return render(
            request,
            "presence/patient_home.html",
            actor,
            online=snapshot["doctors"],
            following=page.items,
        )
    return render(request, "presence/staff_home.html", actor)


@router.post("/doctor/status", dependencies=[Csrf])
async def switch_status(
    request: Request, actor: WebUser, db: Session, runtime: RuntimeDep
) -> Response:
    _only(actor, Role.doctor)
    form = await request.form()
    try:
        status = Status(str(form.get("status", "")))
    except ValueError:
        return await _doctor_home(request, actor, db, 422, error="Choose online, busy or offline.")
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
async def follow(doctor_id: uuid.UUID, actor: WebUser, db: Session) -> Response:
    _only(actor, Role.patient)
    await service.follow(db, actor, doctor_id)
    return redirect(f"/doctors/{doctor_id}")


@router.post("/doctors/{doctor_id}/unfollow", dependencies=[Csrf])
async def unfollow(doctor_id: uuid.UUID, actor: WebUser, db: Session) -> Response:
    _only(actor, Role.patient)
    await service.unfollow(db, actor, doctor_id)
    return redirect(f"/doctors/{doctor_id}")


@router.post("/realtime/ticket", dependencies=[CsrfHeader])
async def browser_ticket(actor: WebUser, db: Session, runtime: RuntimeDep) -> Response:
    """A one-time ticket for this browser's session (static/js/live.js opens the stream)."""
    ticket = await issue_ticket(db, runtime.settings, actor)
    return JSONResponse({"ticket": ticket.ticket, "user_id": str(actor.id)})
