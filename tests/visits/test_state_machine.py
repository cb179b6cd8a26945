"""The state machine walked whole: every (status, target, caller) through the API. A caller who
cannot see the visit gets 404; a move of ``visits/states.py`` the caller is a party to (and whose
time rule holds) is made; anything else is 409 naming the status and the moves allowed now.
Then twenty people moving one visit at once leave one valid history."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import delete, select

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.visits import states
from carebridge.visits.models import Visit, VisitStatus, VisitTransition
from carebridge.visits.states import Door, Party
from tests.factories import PASSWORD_HASH, Committed, MakeUser, Person, TokenFor
from tests.factories.databases import undone
from tests.factories.users import tokens_for
from tests.factories.visits import on_roster, visit_in

# Who calls, and the party they are to a visit (None: not a party at all).
CALLERS: dict[str, Party | None] = {
    "patient": Party.patient,
    "nurse": Party.nurse,
    "dispatcher": Party.dispatcher,
    "orderer": Party.orderer,
    "other_nurse": None,
    "other_doctor": None,
    "other_patient": None,
}
# Who finds the visit at all, by status (the assigned nurse once there is one).
SEES_ALWAYS = {"patient", "dispatcher", "orderer"}
WITHOUT_NURSE = {VisitStatus.requested}


def _sees(caller: str, status: VisitStatus, cancelled_before_assignment: bool) -> bool:
    if caller in SEES_ALWAYS:
        return True
    if caller == "nurse":
        return status not in WITHOUT_NURSE and not cancelled_before_assignment
    return False


def _expected_allowed(caller: str, status: VisitStatus) -> set[str]:
    party = CALLERS[caller]
    return {
        move.target.value
        for move in states.moves_from(status)
        if party in move.parties and move.door != Door.review
    }


@pytest.fixture
async def cast(make_user: MakeUser, token_for: TokenFor, database: Database) -> dict[str, Person]:
    roles = {
        "patient": Role.patient,
        "nurse": Role.nurse,
        "dispatcher": Role.admin,
        "orderer": Role.doctor,
        "other_nurse": Role.nurse,
        "other_doctor": Role.doctor,
        "other_patient": Role.patient,
    }
    people = {}
    for name, role in roles.items():
        user = await make_user(role)
        people[name] = Person(user, await token_for(user))
    await on_roster(database, people["nurse"].user)
    await on_roster(database, people["other_nurse"].user)
    return people


async def test_every_status_target_and_caller(
    client: httpx.AsyncClient, database: Database, settings: Settings, cast: dict[str, Person]
) -> None:
    made = refused = hidden = 0
    for status in VisitStatus:
        visit_id = await visit_in(
            database,
            settings,
            cast["patient"].user,
            status,
            nurse=cast["nurse"].user,
            ordered_by=cast["orderer"].user,
        )
        # The shortest walk to "cancelled" is straight from "requested": nobody was assigned.
        before_assignment = status == VisitStatus.cancelled
        for caller, person in cast.items():
            allowed = _expected_allowed(caller, status) if CALLERS[caller] else set()
            for target in VisitStatus:
                async with undone(database):
                    answer = await client.post(
                        f"/api/v1/visits/{visit_id}/transitions",
                        json={"to": target.value, "reason": "Table test"},
                        headers=person.headers,
                    )
                case = (status.value, caller, target.value, answer.text)
                if not _sees(caller, status, before_assignment):
                    assert answer.status_code == 404, case
                    hidden += 1
                    continue
                move = states.find(status, target)
                if (
                    move is not None
                    and move.door == Door.transition
                    and CALLERS[caller] in move.parties
                ):
                    assert answer.status_code == 200, case
                    assert answer.json()["status"] == target.value, case
                    made += 1
                else:
                    assert answer.status_code == 409, case
                    problem = answer.json()
                    assert problem["current"] == status.value, case
                    assert set(problem["allowed"]) == allowed, case
                    assert problem["code"] == "illegal_transition", case
                    refused += 1
    # Every move made through the transitions door was made by each of its parties once.
    assert made == sum(
        len(m.parties & set(CALLERS.values())) for m in states.MOVES if m.door == Door.transition
    )
    assert refused > 100
    assert hidden > 100


async def test_assignment_by_status_and_caller(
    client: httpx.AsyncClient, database: Database, settings: Settings, cast: dict[str, Person]
) -> None:
    """Only a dispatcher assigns (others: 403 by role), and only from the statuses the table
    lets a visit be assigned from (409 otherwise)."""
    assignable = {m.source for m in states.MOVES if m.door == Door.assign}
    for status in VisitStatus:
        visit_id = await visit_in(
            database, settings, cast["patient"].user, status, nurse=cast["nurse"].user
        )
        for caller, person in cast.items():
            async with undone(database):
                answer = await client.post(
                    f"/api/v1/visits/{visit_id}/assign",
                    json={"nurse_id": str(cast["other_nurse"].user.id)},
                    headers=person.headers,
                )
            case = (status.value, caller, answer.text)
            if caller != "dispatcher":
                assert answer.status_code == 403, case
            elif status in assignable:
                assert answer.status_code == 200, case
                assert answer.json()["nurse"]["id"] == str(cast["other_nurse"].user.id)
            else:
                assert answer.status_code == 409, case


async def test_time_rules_refuse_too_early_and_too_soon(
    client: httpx.AsyncClient, database: Database, settings: Settings, cast: dict[str, Person]
) -> None:
    later = datetime.now(UTC) + timedelta(hours=5)
    accepted = await visit_in(
        database,
        settings,
        cast["patient"].user,
        VisitStatus.accepted,
        nurse=cast["nurse"].user,
        window_start=later,
    )
    early = await client.post(
        f"/api/v1/visits/{accepted}/transitions",
        json={"to": "en_route"},
        headers=cast["nurse"].headers,
    )
    assert early.status_code == 409
    assert early.json()["code"] == "too_early"
    assert "en_route" not in early.json()["allowed"]
    arrived = await visit_in(
        database,
        settings,
        cast["patient"].user,
        VisitStatus.arrived,
        nurse=cast["nurse"].user,
        arrived_minutes_ago=3,
    )
    soon = await client.post(
        f"/api/v1/visits/{arrived}/transitions",
        json={"to": "no_show"},
        headers=cast["nurse"].headers,
    )
    assert soon.status_code == 409
    assert soon.json()["code"] == "wait_longer"
    assert soon.json()["allowed"] == ["in_progress"]


async def _committed_person(database: Database, role: Role) -> User:
    async with database.transaction() as db:
        user = User(
            email=f"race-{role}-{uuid.uuid4().hex[:8]}@clinic.example",
            name=f"Race {role}",
            role=role,
            status=UserStatus.active,
            password_hash=PASSWORD_HASH,
        )
        db.add(user)
    return user


async def test_twenty_concurrent_moves_leave_one_valid_history(
    committed: Committed, settings: Settings, token_for: TokenFor
) -> None:
    """The nurse accepting and declining and the patient cancelling, twenty requests at once
    on one visit: each is made or refused whole, and the history is one chain of legal moves
    numbered without gaps, ending in the visit's status."""
    database = committed.database
    nurse = await _committed_person(database, Role.nurse)
    people = [committed.user, nurse]
    try:
        await on_roster(database, nurse)
        visit_id = await visit_in(
            database, settings, committed.user, VisitStatus.assigned, nurse=nurse
        )
        issue = tokens_for(database, settings)
        patient_headers, nurse_headers = await issue(committed.user), await issue(nurse)
        calls = [("accepted", nurse_headers)] * 7 + [("requested", nurse_headers)] * 7
        calls += [("cancelled", patient_headers)] * 6
        answers = await asyncio.gather(
            *(
                committed.client.post(
                    f"/api/v1/visits/{visit_id}/transitions", json={"to": to}, headers=headers
                )
                for to, headers in calls
            )
        )
        codes = sorted(answer.status_code for answer in answers)
        assert set(codes) <= {200, 404, 409}, codes
        async with database.transaction() as db:
            history = list(
                await db.scalars(
                    select(VisitTransition)
                    .where(VisitTransition.visit_id == visit_id)
                    .order_by(VisitTransition.seq)
                )
            )
            visit = await db.get(Visit, visit_id)
        assert visit is not None
        assert [row.seq for row in history] == list(range(1, len(history) + 1))
        for earlier, later in itertools.pairwise(history):
            assert later.from_state == earlier.to_state
        assert all((row.from_state, row.to_state) in states.pairs() for row in history[1:])
        assert history[-1].to_state == visit.status
        assert visit.seq == len(history)
        # The walk to "assigned" made two rows; every request answered 200 added one.
        assert len(history) - 2 == codes.count(200) >= 1
    finally:
        async with database.transaction() as db:
            await db.execute(delete(Visit).where(Visit.patient_id == committed.user.id))
            await db.execute(delete(User).where(User.id.in_([p.id for p in people[1:]])))
