"""The live tracking page of a home visit, ``/visits/{visit_id}/track``: a map with the home and
the nurse, the distance, an arrival estimate and the status in words, kept live by the visit's
topic (``visit.<id>``: a snapshot on each subscribe, then ``position`` and ``status``), so a page
that lost its socket is whole again when it reconnects. Who may open it is the position's rule
(``visits.policy.may_see_position``: the visit's patient, its nurse, the dispatchers); anyone
else gets the 404 page, as for a visit that does not exist.

Also what every visit map shares (the nurse's pages use it): the tile layer's settings, and the
Content-Security-Policy that lets the browser load tiles from the configured server.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.service import time_zone_of
from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import NotFound
from carebridge.platform.middleware import _CSP
from carebridge.visits import policy, service, states
from carebridge.visits.models import VisitStatus
from carebridge.visits.schemas import VisitDetailOut
from carebridge.web.callers import WebUser
from carebridge.web.pages import render
from carebridge.web.scheduling.common import hhmm, short_day

router = APIRouter(include_in_schema=False)

# The status as the tracking page says it (the patient's words; a dispatcher reads the same).
STATUS_WORDS: dict[str, str] = {
    VisitStatus.requested: "Waiting for a nurse to be assigned",
    VisitStatus.assigned: "A nurse is assigned and will confirm soon",
    VisitStatus.accepted: "The nurse confirmed the visit",
    VisitStatus.en_route: "The nurse is on the way",
    VisitStatus.arrived: "The nurse is at the door",
    VisitStatus.in_progress: "The visit is under way",
    VisitStatus.completed: "The visit is complete",
    VisitStatus.signed_off: "The visit is complete and its report signed",
    VisitStatus.cancelled: "The visit was cancelled",
    VisitStatus.no_show: "The nurse could not find anyone at home",
}
_IMG_SRC = "img-src 'self' data: blob:"
_HOST = re.compile(r"[A-Za-z0-9*][A-Za-z0-9.*-]*(:[0-9]{1,5})?")


def tiles_of(settings: Settings) -> dict[str, str]:
    """The tile layer a map draws (``CAREBRIDGE_MAP_TILE_URL``; empty: points on a blank
    background)."""
    return {"url": settings.map_tile_url, "attribution": settings.map_tile_attribution}


def tile_origin(url: str) -> str | None:
    """Where the tiles come from, as a CSP source (``{s}`` subdomains as a wildcard); None for
    tiles served by CareBridge itself (a path) or none at all."""
    parts = urlsplit(url.replace("{s}", "*"))
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(host):
        return None
    return f"{parts.scheme}://{host}"


def map_page(response: Response, settings: Settings) -> Response:
    """Let ``response``'s page load the configured map tiles (images only, from that origin)."""
    origin = tile_origin(settings.map_tile_url)
    if origin is not None:
        policy_text = _CSP.replace(_IMG_SRC, f"{_IMG_SRC} {origin}")
        response.headers["content-security-policy"] = policy_text
    return response


def point_of(visit: VisitDetailOut) -> dict[str, float] | None:
    return None if visit.point is None else {"lat": visit.point.lat, "lng": visit.point.lng}


def live_data(visit: VisitDetailOut, settings: Settings) -> dict[str, Any]:
    """What a live map's script starts from (the topic's snapshot then replaces it): the topic,
    the status, the home, the nurse's last position, the statuses in which it is shared, the
    tiles."""
    return {
        "visit_id": str(visit.id),
        "topic": policy.topic_of(visit.id),
        "status": visit.status.value,
        "home": point_of(visit),
        "position": None if visit.position is None else visit.position.model_dump(mode="json"),
        "tracked": sorted(status.value for status in states.TRACKED),
        "tiles": tiles_of(settings),
    }


def track_data(visit: VisitDetailOut, settings: Settings) -> dict[str, Any]:
    words = {str(status): words for status, words in STATUS_WORDS.items()}
    return {**live_data(visit, settings), "words": words}


async def trackable(
    db: Session, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> VisitDetailOut:
    """The visit, if ``actor`` may follow its nurse; NotFound otherwise."""
    row = await service.find_visit(db, scope, actor, visit_id)
    if not policy.may_see_position(actor, row):
        raise NotFound("No such home visit.", code="visit_not_found")
    return await service.get_visit(db, scope, actor, visit_id)


@router.get("/visits/{visit_id}/track")
async def track_page(
    request: Request, visit_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """Follow the nurse: the map, the distance and estimate, the status, live."""
    visit = await trackable(db, scope, actor, visit_id)
    zone = await time_zone_of(db, actor.id)
    response = render(
        request,
        "visits/track.html",
        actor,
        visit=visit,
        words=STATUS_WORDS,
        data=track_data(visit, scope.settings),
        zone=zone,
        hhmm=hhmm,
        short_day=short_day,
    )
    return map_page(response, scope.settings)
