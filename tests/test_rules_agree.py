"""Each rule written once agrees with itself on every path: the ORM condition, the SQL text
rendered from it into hand-written statements, and what the API answers.

* **Listed doctor** (``directory.policy``): over a small world of doctors in every state (and
  people of other roles with a verified profile), the ORM condition, its rendered SQL and the
  booking's facts statement select the same doctors; booking, the slot list, the profile and
  following answer 404 alike for everyone not listed.
* **Live session** (``accounts.policy``): over sessions in every state, the ORM condition, the
  token check's statement, the real-time session check and the browser's cookie lookup agree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from carebridge.accounts.browser import cookie_actor, cookie_digest
from carebridge.accounts.models import AuthSession, Role, User, UserStatus
from carebridge.accounts.policy import live_session, live_session_sql
from carebridge.accounts.queries import LIVE_SESSION, SessionOfToken
from carebridge.accounts.realtime import live_sessions
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.directory.policy import listed_doctor, listed_doctor_sql, listed_doctors
from carebridge.directory.service import is_listed
from carebridge.platform.db import Database, driver_connection
from carebridge.scheduling.models import Schedule, ScheduleWindow, TypeSetting
from carebridge.scheduling.queries import BOOKING_FACTS, BookingQuestion
from tests.factories import Headers, MakeUser, TokenFor


@dataclass(frozen=True)
class Person:
    state: str
    user: User
    listed: bool


# (state, role, account status, profile: verified / unverified / none, listed)
WORLD = [
    ("listed", Role.doctor, UserStatus.active, "verified", True),
    ("unverified", Role.doctor, UserStatus.active, "unverified", False),
    ("without a profile", Role.doctor, UserStatus.active, None, False),
    ("waiting for approval", Role.doctor, UserStatus.pending, "verified", False),
    ("disabled", Role.doctor, UserStatus.disabled, "verified", False),
    ("disabled, unverified", Role.doctor, UserStatus.disabled, "unverified", False),
    ("a patient with a verified profile", Role.patient, UserStatus.active, "verified", False),
    ("a nurse with a verified profile", Role.nurse, UserStatus.active, "verified", False),
    ("a patient", Role.patient, UserStatus.active, None, False),
]


def _tomorrow_at_ten() -> datetime:
    day = datetime.now(UTC).date() + timedelta(days=2)
    return datetime.combine(day, time(10), tzinfo=UTC)


@pytest.fixture
async def world(database: Database, make_user: MakeUser) -> list[Person]:
    """Everyone of :data:`WORLD`, each with a schedule offering video calls all day (so that
    only the listed rule can refuse them)."""
    people = []
    now = datetime.now(UTC)
    for state, role, status, profile, listed in WORLD:
        user = await make_user(role, status)
        async with database.transaction() as db:
            if profile is not None:
                verified_at = now if profile == "verified" else None
                db.add(DoctorProfile(user_id=user.id, languages=["en"], verified_at=verified_at))
            db.add(Schedule(doctor_id=user.id, time_zone="UTC", min_notice_minutes=0))
            await db.flush()
            for weekday in range(7):
                db.add(ScheduleWindow(doctor_id=user.id, weekday=weekday, starts=time(0),
                                      ends=time(23, 30)))  # fmt: skip
            db.add(TypeSetting(doctor_id=user.id, type="video", duration_minutes=30))
        people.append(Person(state, user, listed))
    return people


def _expected(world: list[Person]) -> set[uuid.UUID]:
    return {person.user.id for person in world if person.listed}


class TestListedDoctor:
    async def test_the_condition_and_its_sql_select_the_same_doctors(
        self, database: Database, world: list[Person]
    ) -> None:
        ids = [person.user.id for person in world]
        async with database.transaction() as db:
            by_orm = set(await db.scalars(listed_doctors().where(User.id.in_(ids))))
            by_condition = set(
                await db.scalars(
                    select(User.id)
                    .join(DoctorProfile, DoctorProfile.user_id == User.id)
                    .where(User.id.in_(ids), listed_doctor())
                )
            )
            connection = await driver_connection(db)
            rows = await connection.fetch(
                "SELECT d.id FROM users d JOIN doctor_profiles p ON p.user_id = d.id "
                f"WHERE d.id = ANY($1::uuid[]) AND {listed_doctor_sql('d', 'p')}",
                ids,
            )
            by_sql = {row["id"] for row in rows}
            by_service = {person.user.id for person in world if await is_listed(db, person.user.id)}
        assert by_orm == by_condition == by_sql == by_service == _expected(world)

    async def test_the_booking_facts_know_only_listed_doctors(
        self, database: Database, world: list[Person], make_user: MakeUser
    ) -> None:
        patient = await make_user(Role.patient)
        start = _tomorrow_at_ten()
        found = set()
        async with database.transaction() as db:
            connection = await driver_connection(db)
            for person in world:
                question = BookingQuestion(
                    doctor_id=person.user.id,
                    patient_id=patient.id,
                    type="video",
                    since=start - timedelta(days=1),
                    until=start + timedelta(days=1),
                    now=datetime.now(UTC),
                    idempotency_key=None,
                    held_since=start - timedelta(days=2),
                )
                facts = await connection.fetchrow(BOOKING_FACTS.sql, *BOOKING_FACTS.args(question))
                assert facts is not None
                if facts["doctor_name"] is not None:
                    found.add(person.user.id)
        assert found == _expected(world)

    async def test_everyone_not_listed_is_not_found_on_every_path(
        self, client: httpx.AsyncClient, world: list[Person], make_user: MakeUser,
        token_for: TokenFor,
    ) -> None:  # fmt: skip
        patient: Headers = await token_for(await make_user(Role.patient))
        start = _tomorrow_at_ten()
        answers = {}
        for person in world:
            doctor = person.user.id
            booked = await client.post(
                "/api/v1/appointments",
                json={"doctor_id": str(doctor), "starts_at": start.isoformat(), "type": "video"},
                headers=patient,
            )
            slots = await client.get(
                f"/api/v1/doctors/{doctor}/slots",
                params={
                    "type": "video",
                    "from": start.isoformat(),
                    "to": (start + timedelta(hours=2)).isoformat(),
                },
                headers=patient,
            )
            profile = await client.get(f"/api/v1/doctors/{doctor}")
            followed = await client.post(f"/api/v1/doctors/{doctor}/follow", headers=patient)
            answers[person.state] = (
                booked.status_code,
                slots.status_code,
                profile.status_code,
                followed.status_code,
            )
        assert answers == {
            person.state: (201, 200, 200, 204) if person.listed else (404, 404, 404, 404)
            for person in world
        }

    async def test_a_doctor_sees_on_their_own_profile_whether_they_are_listed(
        self, client: httpx.AsyncClient, world: list[Person], token_for: TokenFor
    ) -> None:
        shown = {}
        for person in world:
            if person.user.role != Role.doctor or person.user.status == UserStatus.disabled:
                continue  # no doctor's caller: 401 or 403
            answer = await client.get(
                "/api/v1/doctors/me/profile", headers=await token_for(person.user)
            )
            assert answer.status_code == 200, answer.text
            shown[person.state] = answer.json()["listed"]
        assert shown == {
            person.state: person.listed
            for person in world
            if person.user.role == Role.doctor and person.user.status != UserStatus.disabled
        }


# (state, what moves from a fresh session, the user's status if not active, live)
SESSIONS = [
    ("live", {}, None, True),
    ("revoked", {"revoked_at": timedelta(minutes=-1)}, None, False),
    ("idle too long", {"idle_expires_at": timedelta(seconds=-1)}, None, False),
    ("past its absolute end", {"absolute_expires_at": timedelta(seconds=-1)}, None, False),
    ("of a disabled user", {}, UserStatus.disabled, False),
    ("of a clinician waiting for approval", {}, UserStatus.pending, True),
]


@dataclass(frozen=True)
class Session:
    state: str
    id: uuid.UUID
    user_id: uuid.UUID
    cookie: str
    live: bool


@pytest.fixture
async def sessions(database: Database, make_user: MakeUser, token_for: TokenFor) -> list[Session]:
    """A session in each state of :data:`SESSIONS`, with a browser cookie too."""
    made = []
    for state, changes, user_status, live in SESSIONS:
        user = await make_user(Role.doctor, user_status or UserStatus.active)
        await token_for(user)
        cookie = uuid.uuid4().hex
        now = datetime.now(UTC)
        async with database.transaction() as db:
            session_id = await db.scalar(
                select(AuthSession.id).where(AuthSession.user_id == user.id)
            )
            assert session_id is not None
            values = {column: now + moved for column, moved in changes.items()}
            await db.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id)
                .values(cookie_hash=cookie_digest(cookie), **values)
            )
        made.append(Session(state, session_id, user.id, cookie, live))
    return made


class TestLiveSession:
    async def test_every_path_finds_the_same_sessions_live(
        self, database: Database, settings: Settings, sessions: list[Session]
    ) -> None:
        ids = [session.id for session in sessions]
        now = datetime.now(UTC)
        async with database.transaction() as db:
            by_orm = set(
                await db.scalars(
                    select(AuthSession.id)
                    .join(User, User.id == AuthSession.user_id)
                    .where(AuthSession.id.in_(ids), live_session(now))
                )
            )
            connection = await driver_connection(db)
            by_token = set()
            for session in sessions:
                params = SessionOfToken(session.id, session.user_id, now)
                if await connection.fetchrow(LIVE_SESSION.sql, *LIVE_SESSION.args(params)):
                    by_token.add(session.id)
            rows = await connection.fetch(
                "SELECT s.id FROM auth_sessions s JOIN users u ON u.id = s.user_id "
                f"WHERE s.id = ANY($1::uuid[]) AND {live_session_sql('s', 'u', '$2')}",
                ids,
                now,
            )
            by_sql = {row["id"] for row in rows}
            by_socket = await live_sessions(db, ids)
            by_cookie = set()
            for session in sessions:
                actor = await cookie_actor(db, settings, session.cookie)
                if actor is not None:
                    by_cookie.add(actor.session_id)
        expected = {session.id for session in sessions if session.live}
        assert by_orm == by_token == by_sql == by_socket == by_cookie == expected

    async def test_the_api_and_the_pages_accept_only_live_sessions(
        self, client: httpx.AsyncClient, database: Database, sessions: list[Session],
        token_for: TokenFor,
    ) -> None:  # fmt: skip
        answers = {}
        for session in sessions:
            async with database.transaction() as db:
                user = await db.get_one(User, session.user_id)
            # A second session of the same user, in the same state as the first.
            headers = await token_for(user)
            async with database.transaction() as db:
                first = await db.get_one(AuthSession, session.id)
                await db.execute(
                    update(AuthSession)
                    .where(AuthSession.user_id == user.id, AuthSession.id != session.id)
                    .values(
                        revoked_at=first.revoked_at,
                        idle_expires_at=first.idle_expires_at,
                        absolute_expires_at=first.absolute_expires_at,
                    )
                )
            api = await client.get("/api/v1/me", headers=headers)
            page = await client.get("/account", headers={"Cookie": f"cb_session={session.cookie}"})
            answers[session.state] = (api.status_code, page.status_code)
        assert answers == {
            session.state: (200, 200) if session.live else (401, 303) for session in sessions
        }
