"""Appointments as iCalendar: one appointment as a ``.ics`` download, and a doctor's private
feed that calendar apps subscribe to.

No health data leaves through a calendar: events carry who, what type and when, never the reason
for the visit. The feed's URL is its only credential (calendar apps cannot send a bearer token),
so it is a long random token stored only as its SHA-256 hash, shown once, and revocable; making a
new one revokes the old.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from carebridge.accounts.actors import Actor, AnyUser, DoctorActor
from carebridge.accounts.models import User
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.platform.access import PUBLIC
from carebridge.platform.context import SYSTEM, CallScope, Context, RequestContext
from carebridge.platform.db import lock_for_transaction
from carebridge.platform.deps import RuntimeDep, Scope, Session
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import Forbidden, NotFound, Unauthenticated
from carebridge.platform.problems import problem_responses
from carebridge.scheduling import service
from carebridge.scheduling.models import Appointment, AppointmentStatus, CalendarFeed

router = APIRouter(tags=["scheduling"])

MEDIA_TYPE = "text/calendar; charset=utf-8"
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=365)
# Cancelled appointments stay in the feed (STATUS:CANCELLED) this long after the cancellation,
# so subscribed calendars show them struck through rather than silently gone.
FEED_CANCELLED_FOR = timedelta(days=14)
FEED_MAX_EVENTS = 5000
_Doctor = aliased(User)
_Patient = aliased(User)


async def appointment_ical(
    db: AsyncSession, settings: Settings, actor: Actor, appointment_id: uuid.UUID
) -> bytes:
    """One appointment the caller may see as an iCalendar file; 404 otherwise."""
    appointment = await service.get_appointment(db, actor, appointment_id)
    rows = await db.execute(
        select(User.id, User.name).where(
            User.id.in_((appointment.doctor_id, appointment.patient_id))
        )
    )
    names = {row.id: row.name for row in rows}
    doctor = names.get(appointment.doctor_id, "your doctor")
    patient = names.get(appointment.patient_id, "a patient")
    from carebridge.scheduling.ics import to_ical  # icalendar: a tenth of a second at start-up

    return to_ical(
        settings, actor, [(appointment, doctor, patient)], uid=f"appointment-{appointment.id}"
    )


# -- the private feed -----------------------------------------------------------------------------


class FeedOut(BaseModel):
    url: str
    webcal_url: str
    created_at: datetime


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def feed_url(settings: Settings, token: str) -> str:
    return f"{settings.public_base_url}/api/v1/calendar/{token}.ics"


async def _revoke_live(db: AsyncSession, doctor_id: uuid.UUID, now: datetime) -> int:
    result = await db.execute(
        update(CalendarFeed)
        .where(CalendarFeed.doctor_id == doctor_id, CalendarFeed.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _lock_feeds(db: AsyncSession, doctor_id: uuid.UUID) -> None:
    # Two concurrent "new feed" requests would both revoke nothing new and then collide on the
    # one-live-feed index: serialise them per doctor.
    await lock_for_transaction(db, f"calendar-feed:{doctor_id}")


async def create_feed(db: AsyncSession, scope: CallScope, actor: Actor) -> FeedOut:
    """A new secret feed URL for the doctor, answered once; the previous one stops working."""
    await _lock_feeds(db, actor.id)
    now = datetime.now(UTC)
    await _revoke_live(db, actor.id, now)
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(id=uuid.uuid4(), doctor_id=actor.id, token_hash=_digest(token))
    db.add(feed)
    await db.flush()
    await _audit(db, actor, feed.id, "calendar_feed.created", scope.origin)
    url = feed_url(scope.settings, token)
    return FeedOut(url=url, webcal_url="webcal://" + url.split("://", 1)[1], created_at=now)


async def revoke_feed(db: AsyncSession, actor: Actor, context: RequestContext = SYSTEM) -> None:
    """Stop the doctor's feed URL from working (nothing happens if there is none)."""
    await _lock_feeds(db, actor.id)
    if await _revoke_live(db, actor.id, datetime.now(UTC)):
        await _audit(db, actor, None, "calendar_feed.revoked", context)


async def feed_ical(db: AsyncSession, settings: Settings, token: str) -> bytes:
    """The doctor's appointments from 30 days ago to a year ahead; 404 for an unknown or revoked
    token."""
    doctor_id = await db.scalar(
        select(CalendarFeed.doctor_id).where(
            CalendarFeed.token_hash == _digest(token), CalendarFeed.revoked_at.is_(None)
        )
    )
    if doctor_id is None:
        raise NotFound("No such calendar feed.")
    now = datetime.now(UTC)
    result = await db.execute(
        select(Appointment, _Doctor.name, _Patient.name)
        .join(_Doctor, _Doctor.id == Appointment.doctor_id)
        .join(_Patient, _Patient.id == Appointment.patient_id)
        .where(
            Appointment.doctor_id == doctor_id,
            Appointment.starts_at >= now - FEED_PAST,
            Appointment.starts_at < now + FEED_AHEAD,
            or_(
                Appointment.status != AppointmentStatus.cancelled,
                Appointment.cancelled_at >= now - FEED_CANCELLED_FOR,
            ),
        )
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(FEED_MAX_EVENTS)
    )
    rows = [(appointment, doctor, patient) for appointment, doctor, patient in result]
    from carebridge.scheduling.ics import to_ical

    return to_ical(settings, None, rows, uid=f"feed-{doctor_id}", name="CareBridge appointments")


async def _audit(
    db: AsyncSession,
    actor: Actor,
    feed_id: uuid.UUID | None,
    action: str,
    context: RequestContext,
) -> None:
    await record(
        db,
        action=action,
        actor_id=actor.id,
        actor_role=str(actor.role),
        resource_type="calendar_feed",
        resource_id=feed_id,
        context=context,
    )


# -- routes ---------------------------------------------------------------------------------------

FeedToken = Annotated[str, Path(min_length=16, max_length=128)]
_ICS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/calendar": {}}, "description": "An iCalendar file"}
}


def _ics(body: bytes, filename: str, cache: str, disposition: str = "attachment") -> Response:
    return file_response(body, MEDIA_TYPE, filename, cache=cache, disposition=disposition)


@router.get(
    "/appointments/{appointment_id}/calendar.ics",
    response_class=Response,
    responses={**_ICS, **problem_responses(Unauthenticated, NotFound)},
)
async def appointment_calendar(
    appointment_id: uuid.UUID, actor: AnyUser, db: Session, runtime: RuntimeDep
) -> Response:
    """One of your appointments as an iCalendar file (one event, times in UTC) to add to your
    calendar. It names the doctor, the patient and the type, never the reason for the visit.
    Cancelled appointments come with `STATUS:CANCELLED`."""
    body = await appointment_ical(db, runtime.settings, actor, appointment_id)
    return _ics(body, f"appointment-{appointment_id}.ics", "private, no-cache")


@router.post(
    "/doctors/me/calendar-feed",
    status_code=201,
    response_model=FeedOut,
    responses=problem_responses(Unauthenticated, Forbidden),
)
async def new_calendar_feed(actor: DoctorActor, db: Session, scope: Scope) -> FeedOut:
    """A private iCalendar feed of your appointments (30 days back, a year ahead) for your
    calendar app. The URL is the secret: it is shown only now, and anyone who has it can read
    your appointment times and patients' names. Asking again makes a new URL and the old one
    stops working."""
    return await create_feed(db, scope, actor)


@router.delete(
    "/doctors/me/calendar-feed",
    status_code=204,
    responses=problem_responses(Unauthenticated, Forbidden),
)
async def revoke_calendar_feed(actor: DoctorActor, db: Session, context: Context) -> Response:
    """Turn off your calendar feed: its URL answers 404 from now on."""
    await revoke_feed(db, actor, context)
    return Response(status_code=204)


@router.get(
    "/calendar/{token}.ics",
    response_class=Response,
    dependencies=[PUBLIC],
    responses={**_ICS, **problem_responses(NotFound)},
)
async def calendar_feed(token: FeedToken, db: Session, runtime: RuntimeDep) -> Response:
    """A doctor's private feed (the URL from `POST /doctors/me/calendar-feed`; no sign-in: the
    token is the credential). Unknown or revoked tokens answer 404."""
    body = await feed_ical(db, runtime.settings, token)
    return _ics(body, "carebridge-appointments.ics", "private, max-age=300", "inline")
