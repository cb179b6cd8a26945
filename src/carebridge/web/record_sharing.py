"""The patient's sharing page (grant a doctor or nurse access to all or some sections until a
date, revoke a grant) and the access log (who read or wrote what, when, on what basis), through
``records.access``: the same rules and audit rows as the API's."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.service import time_zone_of
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Invalid, NotFound
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.records import access
from carebridge.records.models import Section
from carebridge.records.schemas import GrantIn
from carebridge.web.callers import WebPatient
from carebridge.web.forms import FormLanguage, FormModel, Label, filled
from carebridge.web.pages import redirect, render
from carebridge.web.records import refused
from carebridge.web.scheduling.common import all_appointments, when
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)

DEFAULT_DAYS = 30
DONE = {"granted": "Shared. They have been told.", "revoked": "Access revoked."}
SHARING = FormLanguage(
    {
        "grantee_id": "Doctor or nurse",
        "sections": Label("Sections", "sections"),
        "expires_at": "Until",
    }
)


class GrantForm(FormModel):
    """Whom to share with (one of the patient's clinicians, or an identifier typed), which
    sections (``all`` or some) and the last day."""

    grantee_id: str = ""
    other_grantee_id: str = ""
    sections: list[str] = []
    expires_on: str = ""


async def _clinicians(db: Session, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    """The doctors the patient had or has appointments with (last two years), by name."""
    since = datetime.now(UTC) - timedelta(days=730)
    seen: dict[uuid.UUID, str] = {}
    for appointment in await all_appointments(db, actor, since, None):
        seen.setdefault(appointment.doctor_id, appointment.doctor_name)
    return sorted(seen.items(), key=lambda item: item[1])


async def _sharing_page(
    request: Request, actor: Actor, db: Session, status_code: int = 200, **values: Any
) -> Response:
    zone = await time_zone_of(db, actor.id)
    default_until = datetime.now(ZoneInfo(zone)).date() + timedelta(days=DEFAULT_DAYS)
    values.setdefault("notice", DONE.get(request.query_params.get("done") or ""))
    return render(
        request,
        "records/sharing.html",
        actor,
        status_code=status_code,
        grants=await access.list_grants(db, actor),
        clinicians=await _clinicians(db, actor),
        sections=list(Section),
        default_until=default_until.isoformat(),
        zone=zone,
        when=when,
        **values,
    )


@router.get("/records/sharing")
async def sharing_page(request: Request, actor: WebPatient, db: Session) -> Response:
    """Who you share your record with, and the form to share it."""
    return await _sharing_page(request, actor, db)


async def _until(db: Session, actor: Actor, typed: str) -> dict[str, Any]:
    """The end of the chosen day in the patient's time zone."""
    if not typed.strip():
        return {}
    try:
        day = date.fromisoformat(typed.strip())
    except ValueError:
        raise Invalid("Until: a date such as 2026-03-29.", code="invalid_date") from None
    zone = ZoneInfo(await time_zone_of(db, actor.id))
    return {"expires_at": datetime.combine(day, time(23, 59), tzinfo=zone)}


@router.post("/records/sharing", dependencies=[Csrf])
async def share(
    request: Request,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    form: Annotated[GrantForm, Form()],
) -> Response:
    """Share sections with a doctor or nurse (replacing their grant in force, if any)."""
    grantee = form.other_grantee_id.strip() or form.grantee_id.strip()
    try:
        fields = filled(grantee_id=grantee)
        body = GrantIn.model_validate(
            {**fields, "sections": form.sections, **await _until(db, actor, form.expires_on)}
        )
        await access.grant(db, scope, actor, body)
    except (ValidationError, CareBridgeError) as exc:
        # An identifier that names no doctor or nurse is a typing error of this form.
        unknown = isinstance(exc, NotFound) and exc.error_code == "no_such_clinician"
        status = 422 if unknown else await refused(db, exc)
        return await _sharing_page(
            request, actor, db, status, error=SHARING.explain(exc), form=form
        )
    return redirect("/records/sharing?done=granted")


@router.post("/records/sharing/{grant_id}/revoke", dependencies=[Csrf])
async def revoke(grant_id: uuid.UUID, actor: WebPatient, db: Session, scope: Scope) -> Response:
    """End a grant now (someone else's grant: the 404 page)."""
    await access.revoke(db, scope, actor, grant_id)
    return redirect("/records/sharing?done=revoked")


@router.get("/records/access-log")
async def access_log_page(
    request: Request,
    actor: WebPatient,
    db: Session,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Who else read or wrote your record: when, what, which section, on what basis."""
    page = await access.access_log(db, actor, cursor=cursor, limit=MAX_PAGE_SIZE)
    return render(
        request,
        "records/access_log.html",
        actor,
        entries=page.items,
        next_cursor=page.next_cursor,
        zone=await time_zone_of(db, actor.id),
        when=when,
    )
