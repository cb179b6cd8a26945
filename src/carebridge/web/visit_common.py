"""What the home visit pages share: a status in words, a time window in the reader's zone, the
map's settings, and the calls into the visit report's service (``carebridge.visits.report``),
which the review pages, the report PDF and its photos go through."""

from __future__ import annotations

import importlib
import uuid
from datetime import datetime
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.errors import NotFound, ServiceUnavailable
from carebridge.visits.models import VisitStatus
from carebridge.visits.schemas import Point
from carebridge.web.scheduling.common import when

# A status as the patient reads it (the dispatcher and the doctor read the same words).
STATUS_WORDS: dict[str, str] = {
    VisitStatus.requested: "Waiting for a nurse",
    VisitStatus.assigned: "Nurse assigned",
    VisitStatus.accepted: "Nurse confirmed",
    VisitStatus.en_route: "Nurse on the way",
    VisitStatus.arrived: "Nurse at the door",
    VisitStatus.in_progress: "Visit in progress",
    VisitStatus.completed: "Done: the report is with a doctor",
    VisitStatus.signed_off: "Done: report ready",
    VisitStatus.cancelled: "Cancelled",
    VisitStatus.no_show: "Missed: nobody answered",
}


def window_text(start: datetime, end: datetime, zone: str) -> str:
    """``Tue 08 Dec 2026, 09:00 to 12:00 CET`` (the end's day too when it differs)."""
    first, last = start.astimezone(ZoneInfo(zone)), end.astimezone(ZoneInfo(zone))
    if first.date() == last.date():
        return f"{first:%a %d %b %Y, %H:%M} to {last:%H:%M %Z}"
    return f"{first:%a %d %b %Y, %H:%M} to {last:%a %d %b, %H:%M %Z}"


def map_config(settings: Settings, centre: Point | None) -> dict[str, Any]:
    """What a map's element carries: the tiles (none unless CAREBRIDGE_MAP_TILE_URL is set)
    and where it opens when it shows nothing yet."""
    return {
        "tile_url": settings.map_tile_url,
        "tile_attribution": settings.map_tile_attribution,
        "centre": centre,
    }


def helpers(**values: Any) -> dict[str, Any]:
    return {"status_words": STATUS_WORDS, "window_text": window_text, "when": when, **values}


# -- the report's service ------------------------------------------------------------------------
# The report (its reading, a doctor's review, the PDF and the photos) is the service of
# ``carebridge.visits.report``; these are the only calls the pages make into it.


def _report_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise ServiceUnavailable(
            "Visit reports are not available on this server yet.", code="reports_unavailable"
        ) from None


def _report() -> ModuleType:
    return _report_module("carebridge.visits.report")


def _plain(found: Any) -> dict[str, Any]:
    if isinstance(found, BaseModel):
        return found.model_dump(mode="json")
    return dict(found)


async def read_report(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> dict[str, Any] | None:
    """The visit's report as its API answers it (``GET /api/v1/visits/{id}/report``); None when
    there is none yet."""
    try:
        found = await _report().get_report(db, scope, actor, visit_id)
    except NotFound:
        return None
    return _plain(found)


async def review_report(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, body: dict[str, Any]
) -> dict[str, Any]:
    """A doctor's decision (``POST /api/v1/visits/{id}/report/review``)."""
    report = _report()
    schemas = _report_module("carebridge.visits.report_schemas")
    review_in = schemas.ReviewIn.model_validate(body)
    return _plain(await report.review(db, scope, actor, visit_id, review_in))


async def report_pdf(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> Response:
    """The report's PDF (``visits.report_files.report_pdf``: audited, the patient's once it is
    signed off)."""
    files = _report_module("carebridge.visits.report_files")
    answer: Response = await files.report_pdf(db, scope, actor, visit_id)
    return answer


async def report_photo(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, photo_id: uuid.UUID
) -> Response:
    """A photo of the report (``visits.report_files.photo_file``: audited)."""
    files = _report_module("carebridge.visits.report_files")
    answer: Response = await files.photo_file(db, scope, actor, visit_id, photo_id)
    return answer
