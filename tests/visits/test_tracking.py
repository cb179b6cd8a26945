"""The nurse's live location over a real server and real WebSockets (the topic ``visit.<id>``
and the ``position`` frame, docs/visits.md), the track it leaves (``GET /visits/{id}/track``)
and that track's reduction once the visit is long over."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection

from carebridge.accounts.models import Role, User
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.retention import apply_class
from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.visits.geo import distance_m
from carebridge.visits.models import Visit, VisitNurse, VisitPosition, VisitStatus
from carebridge.visits.retention import RETENTION
from tests.factories.realtime import Live, Member, next_frame, serving, subscribe
from tests.factories.users import user_maker
from tests.factories.visits import HOME, NEAR_BASE, MakePeople, on_roster, visit_in

# From the nurse's base to the door: 2 km, then closer and closer, the last two within 150 m.
PATH = [
    (NEAR_BASE[0] + (HOME[0] - NEAR_BASE[0]) * f, NEAR_BASE[1] + (HOME[1] - NEAR_BASE[1]) * f)
    for f in (0.0, 0.4, 0.8, 0.95, 0.99)
]
QUIET = 0.5  # how long a socket that must get nothing is watched
INTERVAL = 0.5  # CAREBRIDGE_VISIT_POSITION_SECONDS on the fast server


@pytest.fixture
def serve(database_url: str, tmp_path: Path, engine: AsyncEngine) -> Any:
    def start(**overrides: Any) -> AbstractAsyncContextManager[Live]:
        return serving(database_url, tmp_path / uuid.uuid4().hex[:6], **overrides)

    return start


@pytest.fixture
async def live(serve: Any) -> AsyncIterator[Live]:
    """A server that takes a position every half second (the shortest setting)."""
    async with serve(visit_position_seconds=INTERVAL) as served:
        yield served


@dataclass
class Scene:
    live: Live
    visit_id: uuid.UUID
    patient: Member
    nurse: Member
    admin: Member


async def _user(live: Live, member: Member) -> User:
    async with live.database.transaction() as db:
        user = await db.get(User, member.user_id)
    assert user is not None
    return user


async def scene(
    live: Live, status: VisitStatus = VisitStatus.en_route, ordered_by: Member | None = None
) -> Scene:
    patient, nurse = await live.member(Role.patient), await live.member(Role.nurse)
    admin = await live.member(Role.admin)
    nurse_user = await _user(live, nurse)
    await on_roster(live.database, nurse_user)
    settings = live.app.state.runtime.settings
    visit_id = await visit_in(
        live.database,
        settings,
        await _user(live, patient),
        status,
        nurse=nurse_user,
        ordered_by=None if ordered_by is None else await _user(live, ordered_by),
    )
    return Scene(live, visit_id, patient, nurse, admin)


def position(visit_id: uuid.UUID, point: tuple[float, float], ref: str = "p") -> str:
    frame = {"type": "position", "id": ref, "visit_id": str(visit_id), "lat": point[0]}
    return json.dumps(frame | {"lng": point[1], "accuracy_m": 8})


async def send_position(
    socket: ClientConnection, visit_id: uuid.UUID, point: tuple[float, float]
) -> dict[str, Any]:
    """The position sent, and the server's answer to it (``ack`` or ``error``)."""
    ref = uuid.uuid4().hex
    await socket.send(position(visit_id, point, ref))
    return await next_frame(socket, lambda f: f.get("id") == ref)


async def stored(live: Live, visit_id: uuid.UUID) -> int:
    async with live.database.transaction() as db:
        count = await db.scalar(
            select(func.count())
            .select_from(VisitPosition)
            .where(VisitPosition.visit_id == visit_id)
        )
    return int(count or 0)


async def nothing_comes(socket: ClientConnection, event: str) -> bool:
    try:
        await next_frame(socket, lambda f: f.get("event") == event, timeout=QUIET)
    except TimeoutError:
        return True
    return False


async def test_the_patient_follows_the_nurse_to_the_door(live: Live) -> None:
    s = await scene(live)
    watching = await live.open(s.patient)
    frames = await subscribe(watching, f"visit.{s.visit_id}")
    assert [f["type"] for f in frames] == ["snapshot", "subscribed"]
    visit = await live.http.get(f"/api/v1/visits/{s.visit_id}", headers=s.patient.headers)
    assert frames[0]["data"] == {
        "visit_id": str(s.visit_id),
        "status": "en_route",
        "seq": visit.json()["seq"],
        "position": None,
        "home": {"lat": HOME[0], "lng": HOME[1]},
    }
    sending = await live.open(s.nurse)
    seen = []
    for n, point in enumerate(PATH):
        if n:
            await asyncio.sleep(INTERVAL + 0.05)
        ack = await send_position(sending, s.visit_id, point)
        assert ack["type"] == "ack", ack
        assert ack["stored"] is True
        event = await next_frame(watching, lambda f: f.get("event") == "position")
        data = event["data"]
        assert data["visit_id"] == str(s.visit_id)
        assert (data["lat"], data["lng"], data["accuracy_m"]) == (*point, 8)
        assert data["near"] == ack["near"]
        assert data["distance_m"] == ack["distance_m"]
        seen.append(data)
    distances = [d["distance_m"] for d in seen]
    assert distances == sorted(distances, reverse=True)
    assert len(set(distances)) == len(PATH)
    assert [d["near"] for d in seen] == [False, False, False, True, True]
    assert distances[-2] <= 150 < distances[-3]
    assert seen[0]["eta_minutes"] > seen[-1]["eta_minutes"]

    async with live.database.transaction() as db:
        visit = await db.get(Visit, s.visit_id)
        nurse = await db.get(VisitNurse, s.nurse.user_id)
    assert visit is not None
    assert nurse is not None
    assert (visit.last_lat, visit.last_lng, visit.last_accuracy_m) == (*PATH[-1], 8)
    assert (nurse.last_lat, nurse.last_lng) == PATH[-1]
    assert nurse.last_position_at == visit.last_position_at

    # Reconnecting, the snapshot holds the last position.
    again = await live.open(s.patient)
    (snapshot, _) = await subscribe(again, f"visit.{s.visit_id}")
    assert snapshot["data"]["position"] == {k: v for k, v in seen[-1].items() if k != "visit_id"}

    # The track: every point, its length as the legs between them add up.
    track = await live.http.get(f"/api/v1/visits/{s.visit_id}/track", headers=s.patient.headers)
    assert track.status_code == 200, track.text
    body = track.json()
    assert body["reduced"] is False
    assert [(p["lat"], p["lng"]) for p in body["points"]] == PATH
    legs = sum(distance_m(*a, *b) for a, b in itertools.pairwise(PATH))
    assert body["distance_m"] == pytest.approx(legs, abs=0.2)
    assert body["started_at"] == body["points"][0]["at"]
    assert body["ended_at"] == body["points"][-1]["at"]
    for who in (s.nurse, s.admin):
        seen_by = await live.http.get(f"/api/v1/visits/{s.visit_id}/track", headers=who.headers)
        assert seen_by.status_code == 200
        assert seen_by.json() == body
    assert await _track_reads(live, s.visit_id) == {s.nurse.user_id, s.admin.user_id}


async def _track_reads(live: Live, visit_id: uuid.UUID) -> set[uuid.UUID]:
    async with live.database.transaction() as db:
        readers = await db.scalars(
            select(AuditEvent.actor_id).where(
                AuditEvent.action == "visit.track.read", AuditEvent.resource_id == str(visit_id)
            )
        )
    return {r for r in readers if r is not None}


async def test_only_its_people_watch_the_visit(live: Live) -> None:
    doctor = await live.member(Role.doctor)
    s = await scene(live, ordered_by=doctor)
    # The ordering doctor sees the visit, not the nurse's position.
    visit = await live.http.get(f"/api/v1/visits/{s.visit_id}", headers=doctor.headers)
    assert visit.status_code == 200
    for who in (await live.member(Role.patient), await live.member(Role.nurse), doctor):
        socket = await live.open(who)
        (refused,) = await subscribe(socket, f"visit.{s.visit_id}")
        assert refused["type"] == "error"
        assert refused["code"] == "forbidden_topic"
        track = await live.http.get(f"/api/v1/visits/{s.visit_id}/track", headers=who.headers)
        assert track.status_code == 404
        assert track.json()["code"] == "visit_not_found"
    for who in (s.patient, s.nurse, s.admin):
        frames = await subscribe(await live.open(who), f"visit.{s.visit_id}")
        assert frames[-1]["type"] == "subscribed"
    socket = await live.open(s.patient)
    (refused,) = await subscribe(socket, "visit.not-a-uuid")
    assert refused["code"] == "forbidden_topic"


async def test_only_the_assigned_nurse_sends_positions(live: Live) -> None:
    doctor = await live.member(Role.doctor)
    s = await scene(live, ordered_by=doctor)
    watching = await live.open(s.patient)
    await subscribe(watching, f"visit.{s.visit_id}")
    refusals = {
        "patient": (s.patient, "not_the_nurse"),
        "dispatcher": (s.admin, "not_the_nurse"),
        "another nurse": (await live.member(Role.nurse), "visit_not_found"),
        "the ordering doctor": (doctor, "visit_not_found"),
    }
    for name, (who, code) in refusals.items():
        answer = await send_position(await live.open(who), s.visit_id, HOME)
        assert (answer["type"], answer.get("code"), answer.get("of")) == (
            "error",
            code,
            "position",
        ), (
            name,
            answer,
        )
    unknown = await send_position(await live.open(s.nurse), uuid.uuid4(), HOME)
    assert unknown["code"] == "visit_not_found"
    nurse = await live.open(s.nurse)
    await nurse.send(json.dumps({"type": "position", "id": "x", "visit_id": str(s.visit_id)}))
    bad = await next_frame(nurse, lambda f: f.get("id") == "x")
    assert bad["code"] == "bad_frame"
    out_of_range = await send_position(nurse, s.visit_id, (91.0, 4.8))
    assert out_of_range["code"] == "bad_frame"
    assert await stored(live, s.visit_id) == 0
    assert await nothing_comes(watching, "position")


async def test_a_position_too_soon_after_the_last_is_not_stored(serve: Any) -> None:
    async with serve() as live:  # the default: one position every 5 s
        s = await scene(live)
        watching = await live.open(s.patient)
        await subscribe(watching, f"visit.{s.visit_id}")
        nurse = await live.open(s.nurse)
        first = await send_position(nurse, s.visit_id, PATH[0])
        assert first["stored"] is True
        await next_frame(watching, lambda f: f.get("event") == "position")
        second = await send_position(nurse, s.visit_id, PATH[1])
        assert (second["type"], second["stored"], second["reason"]) == ("ack", False, "too_soon")
        assert await stored(live, s.visit_id) == 1
        assert await nothing_comes(watching, "position")
        async with live.database.transaction() as db:
            visit = await db.get(Visit, s.visit_id)
        assert visit is not None
        assert (visit.last_lat, visit.last_lng) == PATH[0]

        # Two devices of the nurse (or two API processes) at once: one position is stored.
        other = await scene(live)
        first_device, second_device = await live.open(other.nurse), await live.open(other.nurse)
        answers = await asyncio.gather(
            send_position(first_device, other.visit_id, PATH[0]),
            send_position(second_device, other.visit_id, PATH[1]),
        )
        assert sorted(a["stored"] for a in answers) == [False, True]
        assert await stored(live, other.visit_id) == 1


async def test_positions_only_while_on_the_way_or_at_the_home(live: Live) -> None:
    for status in (VisitStatus.accepted, VisitStatus.in_progress, VisitStatus.completed):
        s = await scene(live, status)
        answer = await send_position(await live.open(s.nurse), s.visit_id, HOME)
        assert (answer["type"], answer["code"]) == ("error", "not_tracked"), status
        assert await stored(live, s.visit_id) == 0
    s = await scene(live, VisitStatus.arrived)
    answer = await send_position(await live.open(s.nurse), s.visit_id, HOME)
    assert answer["stored"] is True
    assert answer["near"] is True
    assert answer["distance_m"] == 0
    assert await stored(live, s.visit_id) == 1


# -- the reduction --------------------------------------------------------------------------------


async def _track(
    database: Database, visit_id: uuid.UUID, points: list[tuple[float, float]], start: datetime
) -> None:
    async with database.transaction() as db:
        db.add_all(
            VisitPosition(
                visit_id=visit_id, at=start + timedelta(seconds=5 * n), lat=p[0], lng=p[1]
            )
            for n, p in enumerate(points)
        )
        await db.execute(
            update(Visit)
            .where(Visit.id == visit_id)
            .values(last_lat=points[-1][0], last_lng=points[-1][1], last_position_at=start)
        )


async def reduce_tracks(database: Database, settings: Settings) -> int:
    """The retention run's class of tracks, applied alone: batches until none is left."""
    (tracks,) = RETENTION
    cutoff = tracks.cutoff(settings, datetime.now(UTC))
    return await apply_class(database, CallScope.system(settings), tracks, cutoff, dry_run=False)


async def _ended(database: Database, visit_id: uuid.UUID, days_ago: float) -> None:
    """The visit ended ``days_ago`` (completed then, or moved to its final status then)."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    async with database.transaction() as db:
        visit = await db.get(Visit, visit_id)
        assert visit is not None
        visit.status_changed_at = at
        if visit.completed_at is not None:
            visit.completed_at = at


async def test_old_tracks_are_reduced_and_recent_ones_kept(
    client: httpx.AsyncClient, database: Database, settings: Settings, visit_people: MakePeople
) -> None:
    people = await visit_people()
    patient, nurse = people.patient.user, people.nurse.user
    long_ago = datetime.now(UTC) - timedelta(days=40)
    visits = {}
    for name, status, days in (
        ("old", VisitStatus.completed, settings.visit_track_days + 1),
        ("old no-show", VisitStatus.no_show, settings.visit_track_days + 5),
        ("recent", VisitStatus.completed, settings.visit_track_days - 1),
        ("on the way", VisitStatus.en_route, 0),
    ):
        visit_id = await visit_in(database, settings, patient, status, nurse=nurse)
        await _track(database, visit_id, PATH, long_ago)
        if status != VisitStatus.en_route:
            await _ended(database, visit_id, days)
        visits[name] = visit_id

    assert await reduce_tracks(database, settings) >= 2

    legs = sum(distance_m(*a, *b) for a, b in itertools.pairwise(PATH))
    for name in ("old", "old no-show"):
        url = f"/api/v1/visits/{visits[name]}/track"
        track = (await client.get(url, headers=people.patient.headers)).json()
        assert track["reduced"] is True, name
        assert track["points"] == []
        assert track["distance_m"] == pytest.approx(legs, abs=0.2)
        assert track["started_at"] == long_ago.isoformat().replace("+00:00", "Z")
        assert track["ended_at"] == (long_ago + timedelta(seconds=20)).isoformat().replace(
            "+00:00", "Z"
        )
        async with database.transaction() as db:
            visit = await db.get(Visit, visits[name])
            left = await db.scalar(
                select(func.count())
                .select_from(VisitPosition)
                .where(VisitPosition.visit_id == visits[name])
            )
        assert visit is not None
        assert visit.track_reduced_at is not None
        assert (visit.last_lat, visit.last_lng, visit.last_position_at) == (None, None, None)
        assert left == 0
    for name in ("recent", "on the way"):
        url = f"/api/v1/visits/{visits[name]}/track"
        track = (await client.get(url, headers=people.patient.headers)).json()
        assert track["reduced"] is False, name
        assert len(track["points"]) == len(PATH)

    # Again: nothing more to do; the reduced track is still not readable by others.
    assert await reduce_tracks(database, settings) == 0
    url = f"/api/v1/visits/{visits['old']}/track"
    assert (await client.get(url, headers=people.doctor.headers)).status_code == 404
    assert (await client.get(url, headers=people.nurse.headers)).json()["reduced"] is True


async def test_two_workers_reduce_each_track_once(fresh: Database, settings: Settings) -> None:
    """On a database of the test's own (committed rows, real concurrent transactions)."""
    make_user = user_maker(fresh)
    patient, nurse = await make_user(Role.patient), await make_user(Role.nurse)
    await on_roster(fresh, nurse)
    long_ago = datetime.now(UTC) - timedelta(days=40)
    ids = []
    for _ in range(12):
        visit_id = await visit_in(fresh, settings, patient, VisitStatus.completed, nurse=nurse)
        await _track(fresh, visit_id, PATH, long_ago)
        await _ended(fresh, visit_id, settings.visit_track_days + 1)
        ids.append(visit_id)

    both = await asyncio.gather(reduce_tracks(fresh, settings), reduce_tracks(fresh, settings))

    assert sum(both) == len(ids)
    async with fresh.transaction() as db:
        reduced = await db.scalar(
            select(func.count()).select_from(Visit).where(Visit.track_reduced_at.is_not(None))
        )
        points = await db.scalar(select(func.count()).select_from(VisitPosition))
    assert (reduced, points) == (len(ids), 0)
