"""The doctor's calendar: two weeks from a Monday or a month, by day in the schedule's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.platform.deps import Session
from carebridge.platform.errors import Invalid
from carebridge.scheduling import schedules
from carebridge.web.calendar_range import calendar_range
from carebridge.web.callers import WebDoctor
from carebridge.web.pages import render
from carebridge.web.scheduling.common import DONE, all_appointments, by_local_day, helpers, moves_of

router = APIRouter(include_in_schema=False)


async def show_calendar(
    request: Request,
    actor: Actor,
    db: Session,
    status_code: int = 200,
    **values: Any,
) -> Response:
    """The range the address names (this week and the next after a form's POST)."""
    zone = await schedules.reader_zone(db, actor)
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    query = request.query_params
    try:
        shown = calendar_range(today, query.get("week"), query.get("month"))
    except Invalid as exc:
        shown, status_code = calendar_range(today, None, None), exc.status
        values["error"] = exc.detail

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))

    sections = []
    for section in shown.sections:
        start, end = midnight(section.first), midnight(section.last + timedelta(days=1))
        items = await all_appointments(db, actor, start, end, most=2000)
        sections.append((section, by_local_day(items, zone)))
    return render(
        request,
        "scheduling/calendar.html",
        actor,
        status_code=status_code,
        zone=zone,
        today=today,
        shown=shown,
        sections=sections,
        now=datetime.now(UTC),
        moves=moves_of(request, actor, datetime.now(UTC)),
        **helpers(**values),
    )


@router.get("/doctor/appointments")
async def calendar_page(request: Request, actor: WebDoctor, db: Session) -> Response:
    """Two weeks from a Monday (``?week=YYYY-MM-DD``, default this week) or a month
    (``?month=YYYY-MM``), with links to the ranges before and after."""
    return await show_calendar(
        request, actor, db, notice=DONE.get(request.query_params.get("done") or "")
    )
