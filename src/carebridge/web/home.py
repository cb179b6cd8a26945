"""Each role's home, where people land after signing in: patients see the doctors online now
and their next appointment; doctors their day and their status switch (or why they cannot go
online yet); admins what needs their attention; nurses their links. Every fact comes from its
domain's service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.directory import admin as directory_admin
from carebridge.directory import service as directory
from carebridge.notifications import admin as notifications_admin
from carebridge.notifications.models import DeliveryStatus
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.presence import service as presence
from carebridge.reviews import service as reviews
from carebridge.scheduling import schedules
from carebridge.scheduling import service as scheduling
from carebridge.video import views as calls
from carebridge.web.pages import clinic_currency, render
from carebridge.web.scheduling.common import STATUS_NAMES, TYPE_NAMES, day_name, hhmm, when
from carebridge.web.session import WebUser, web_admin

router = APIRouter(include_in_schema=False)

REVIEWS_RECENT = timedelta(days=7)


def _names() -> dict[str, Any]:
    return {
        "hhmm": hhmm,
        "when": when,
        "type_names": {str(k): v for k, v in TYPE_NAMES.items()},
        "status_names": {str(k): v for k, v in STATUS_NAMES.items()},
    }


@router.get("/home")
async def home(request: Request, actor: WebUser, db: Session, runtime: RuntimeDep) -> Response:
    """Where people land after signing in."""
    if actor.role == Role.doctor:
        return await doctor_home(request, actor, db)
    if actor.role == Role.patient:
        return await _patient_home(request, actor, db)
    if actor.role == Role.admin:
        # The admin pages' own rule (two-step sign-in where staff need it) guards the counts.
        return await _admin_home(request, await web_admin(actor, runtime), db)
    return render(request, "presence/staff_home.html", actor)


async def _patient_home(request: Request, actor: Actor, db: Session) -> Response:
    now = datetime.now(UTC)
    upcoming = await scheduling.list_upcoming(db, actor, now=now, limit=1)
    snapshot = await presence.live_snapshot(db)
    following = await presence.following(db, actor, None, 50)
    return render(
        request,
        "presence/patient_home.html",
        actor,
        next_appointment=upcoming[0] if upcoming else None,
        zone=await schedules.reader_zone(db, actor),
        online=snapshot["doctors"],
        following=following.items,
        **_names(),
    )


async def doctor_home(
    request: Request, actor: Actor, db: Session, status_code: int = 200, **values: Any
) -> Response:
    """Today in the doctor's zone, and the status switch if they may go online."""
    zone = await schedules.reader_zone(db, actor)
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    start = datetime.combine(today, time(0), tzinfo=ZoneInfo(zone))
    end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))
    may_go_online = await presence.may_go_online(db, actor.id)
    profile = (
        None
        if may_go_online
        else await directory.get_own_doctor_profile(db, actor, clinic_currency(request))
    )
    return render(
        request,
        "presence/doctor_home.html",
        actor,
        status_code=status_code,
        presence=await presence.get_status(db, actor.id),
        may_go_online=may_go_online,
        not_verified=presence.NOT_VERIFIED,
        licence_missing=profile is not None and not profile.license_number,
        today=day_name(today),
        zone=zone,
        appointments=await scheduling.list_day(db, actor, start=start, end=end),
        waiting=await calls.waiting_for(db, actor.id),
        **_names(),
        **values,
    )


@dataclass(frozen=True)
class Attention:
    """What needs an admin, counted by each domain's service."""

    doctors_to_verify: int
    deliveries_dead: int
    deliveries_failed: int
    reviews_recent: int
    reviews_hidden: int


async def _attention(db: Session) -> Attention:
    deliveries = await notifications_admin.count_by_status(
        db, (DeliveryStatus.dead, DeliveryStatus.failed)
    )
    counts = await reviews.moderation_counts(db, datetime.now(UTC) - REVIEWS_RECENT)
    return Attention(
        doctors_to_verify=await directory_admin.count_to_verify(db),
        deliveries_dead=deliveries[DeliveryStatus.dead],
        deliveries_failed=deliveries[DeliveryStatus.failed],
        reviews_recent=counts.written_since,
        reviews_hidden=counts.hidden,
    )


async def _admin_home(request: Request, actor: Actor, db: Session) -> Response:
    return render(
        request,
        "presence/staff_home.html",
        actor,
        attention=await _attention(db),
        recent_days=REVIEWS_RECENT.days,
    )
