"""Appointments written as iCalendar (RFC 5545) with the icalendar library: events named from the
reader's side, carrying who, what type and when, never the reason for the visit. Imported by
``calendar.py`` when a file or a feed is asked for, not at start-up."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from icalendar import Calendar, Event, vDuration
from icalendar.enums import STATUS

from carebridge.accounts.actors import Actor
from carebridge.config import Settings
from carebridge.scheduling import notices
from carebridge.scheduling.models import Appointment, AppointmentStatus

FEED_REFRESH = timedelta(minutes=5)
_STATUS = {
    AppointmentStatus.pending_payment: STATUS.TENTATIVE,  # held until paid
    AppointmentStatus.cancelled: STATUS.CANCELLED,
}


def _host(settings: Settings) -> str:
    return urlsplit(settings.public_base_url).hostname or "carebridge"


def _event(
    settings: Settings, appointment: Appointment, summary: str, doctor: str, patient: str
) -> Event:
    kind = notices.TYPE_LABELS.get(appointment.type, appointment.type)
    link = f"{settings.public_base_url}/appointments/{appointment.id}"
    return Event.new(
        uid=f"appointment-{appointment.id}@{_host(settings)}",
        start=appointment.starts_at.astimezone(UTC),
        end=appointment.ends_at.astimezone(UTC),
        stamp=datetime.now(UTC),
        last_modified=appointment.updated_at.astimezone(UTC),
        summary=summary,
        description=f"{kind.capitalize()}\nDoctor: {doctor}\nPatient: {patient}\n{link}",
        url=link,
        status=_STATUS.get(AppointmentStatus(appointment.status), STATUS.CONFIRMED),
    )


def _summary(viewer: Actor | None, appointment: Appointment, doctor: str, patient: str) -> str:
    """Named from the reader's side: the patient sees their doctor, the doctor their patient."""
    kind = notices.TYPE_LABELS.get(appointment.type, appointment.type).capitalize()
    if viewer is not None and viewer.id == appointment.patient_id:
        return f"{kind} with {doctor}"
    if viewer is None or viewer.id == appointment.doctor_id:
        return f"{kind} with {patient}"
    return f"{kind}: {doctor} with {patient}"


def to_ical(
    settings: Settings,
    viewer: Actor | None,
    rows: Iterable[tuple[Appointment, str, str]],
    *,
    uid: str,
    name: str | None = None,
) -> bytes:
    """A calendar of ``rows`` (appointment, doctor's name, patient's name); ``name`` makes it a
    subscribable feed (its apps are told to refresh every 5 minutes)."""
    calendar = Calendar.new(
        prodid="-//CareBridge//Appointments//EN",
        uid=f"{uid}@{_host(settings)}",
        name=name,
        refresh_interval=FEED_REFRESH if name else None,
    )
    if name:
        calendar.add("X-PUBLISHED-TTL", vDuration(FEED_REFRESH))
    for appointment, doctor, patient in rows:
        summary = _summary(viewer, appointment, doctor, patient)
        calendar.add_component(_event(settings, appointment, summary, doctor, patient))
    ical: bytes = calendar.to_ical()
    return ical
