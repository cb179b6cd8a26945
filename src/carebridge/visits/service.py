"""Home visit use cases: a patient's request or a doctor's order, the dispatcher's assignment,
every move of the state machine (``visits/states.py``) and the reads. Each move locks the visit's
row, checks it against the parties and time rules of ``visits/policy.py``, numbers its
transition and tells the people concerned through the outbox (notifications) and, after the
commit, the visit's topic (``visit.<id>``: ``status``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.accounts.service import names_of
from carebridge.compliance.service import record
from carebridge.notifications.service import notify, notify_admins
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound
from carebridge.platform.events import publish_after_commit
from carebridge.platform.pagination import Page, keyset_page
from carebridge.records.policy import in_care
from carebridge.scheduling import service as scheduling
from carebridge.visits import catalog, conversation, kinds, policy, states
from carebridge.visits.geo import distance_m, eta_minutes
from carebridge.visits.models import (
    ReportStatus,
    Visit,
    VisitNurse,
    VisitReport,
    VisitStatus,
    VisitTransition,
)
from carebridge.visits.schemas import (
    AssignIn,
    PersonOut,
    Point,
    PositionOut,
    ServiceOut,
    TransitionIn,
    TransitionOut,
    VisitDetailOut,
    VisitIn,
    VisitOut,
)
from carebridge.visits.sealed import (
    TRANSITION_REASON,
    VISIT_ACCESS_NOTES,
    VISIT_ADDRESS,
    VISIT_REASON,
)
from carebridge.visits.states import Door, Move

RESOURCE = "home_visit"
LONGEST_WINDOW = timedelta(hours=12)
FURTHEST_AHEAD = timedelta(days=90)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _not_found() -> NotFound:
    return NotFound("No such home visit.", code="visit_not_found")


def service_out(code: str) -> ServiceOut:
    found = catalog.find(code)
    assert found is not None  # stored codes come from the catalog
    return ServiceOut(
        code=found.code, label=found.label, minutes=found.minutes, description=found.description
    )


def services() -> list[ServiceOut]:
    return [service_out(service.code) for service in catalog.CATALOG]


# -- reading --------------------------------------------------------------------------------------


def position_out(visit: Visit, settings: Any) -> PositionOut | None:
    """The nurse's last position with the distance to the home and an estimate."""
    if visit.last_lat is None or visit.last_lng is None or visit.last_position_at is None:
        return None
    distance = None
    if visit.lat is not None and visit.lng is not None:
        distance = distance_m(visit.last_lat, visit.last_lng, visit.lat, visit.lng)
    return PositionOut(
        lat=visit.last_lat,
        lng=visit.last_lng,
        accuracy_m=visit.last_accuracy_m,
        at=visit.last_position_at,
        distance_m=None if distance is None else round(distance, 1),
        eta_minutes=None if distance is None else eta_minutes(distance, settings.visit_speed_kmh),
        near=distance is not None and distance <= settings.visit_arrival_meters,
    )


async def facts_of(db: AsyncSession, scope: CallScope, actor: Actor, visit: Visit) -> policy.Facts:
    claimable = False
    reviewing = False
    if (
        actor.role == Role.nurse
        and visit.status == VisitStatus.requested
        and scope.settings.visit_nurses_claim
    ):
        claimable = bool(
            await db.scalar(
                select(exists().where(Visit.id == visit.id, policy.claimable(actor.id)))
            )
        )
    if actor.role == Role.doctor and visit.status == VisitStatus.completed:
        reviewer = await db.execute(
            select(VisitReport.reviewer_id).where(
                VisitReport.visit_id == visit.id,
                VisitReport.status == ReportStatus.submitted.value,
            )
        )
        row = reviewer.one_or_none()
        reviewing = row is not None and row[0] in (None, actor.id)
    return policy.Facts(claimable=claimable, reviewing=reviewing)


async def _people(db: AsyncSession, visits: Iterable[Visit]) -> dict[uuid.UUID, str]:
    ids: set[uuid.UUID] = set()
    for visit in visits:
        ids.update(i for i in (visit.patient_id, visit.nurse_id, visit.ordered_by_id) if i)
    return await names_of(db, ids)


def _person(names: dict[uuid.UUID, str], user_id: uuid.UUID | None) -> PersonOut | None:
    if user_id is None:
        return None
    return PersonOut(id=user_id, name=names.get(user_id, "Someone"))


def visit_out(
    scope: CallScope,
    actor: Actor,
    visit: Visit,
    names: dict[uuid.UUID, str],
    facts: policy.Facts,
    now: datetime,
) -> VisitOut:
    keyring = scope.keyring
    point = None if visit.lat is None or visit.lng is None else Point(lat=visit.lat, lng=visit.lng)
    patient = _person(names, visit.patient_id)
    assert patient is not None
    return VisitOut(
        id=visit.id,
        status=VisitStatus(visit.status),
        service=service_out(visit.service),
        patient=patient,
        nurse=_person(names, visit.nurse_id),
        ordered_by=_person(names, visit.ordered_by_id),
        appointment_id=visit.appointment_id,
        address=keyring.open_text(VISIT_ADDRESS, visit) or "",
        point=point,
        window_start=visit.window_start,
        window_end=visit.window_end,
        access_notes=keyring.open_text(VISIT_ACCESS_NOTES, visit),
        reason=keyring.open_text(VISIT_REASON, visit),
        seq=visit.seq,
        status_changed_at=visit.status_changed_at,
        arrived_at=visit.arrived_at,
        completed_at=visit.completed_at,
        position=position_out(visit, scope.settings)
        if policy.may_see_position(actor, visit)
        else None,
        allowed=policy.allowed(actor, visit, facts, now, scope.settings),
        created_at=visit.created_at,
    )


async def audit(
    db: AsyncSession, scope: CallScope, actor: Actor, action: str, visit: Visit, **details: Any
) -> None:
    await record(
        db,
        action=action,
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type=RESOURCE,
        resource_id=visit.id,
        subject_id=visit.patient_id,
        context=scope.origin,
        patient_id=str(visit.patient_id),
        **details,
    )


async def find_visit(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, *, lock: bool = False
) -> Visit:
    """The visit if ``actor`` may see it (404 otherwise); ``lock``: for a move (row lock)."""
    statement = policy.visible_visits(actor, scope.settings).where(Visit.id == visit_id)
    if lock:
        statement = statement.with_for_update(of=Visit)
    visit: Visit | None = await db.scalar(statement)
    if visit is None:
        raise _not_found()
    await scope.unlock(db, visit.patient_id)  # its fields, report and captions are sealed
    return visit


async def timeline(db: AsyncSession, scope: CallScope, visit: Visit) -> list[TransitionOut]:
    rows = list(
        await db.scalars(
            select(VisitTransition)
            .where(VisitTransition.visit_id == visit.id)
            .order_by(VisitTransition.seq)
        )
    )
    names = await names_of(db, {row.actor_id for row in rows if row.actor_id})
    outs = []
    for row in rows:
        source = None if row.from_state is None else VisitStatus(row.from_state)
        move = None if source is None else states.find(source, VisitStatus(row.to_state))
        point = None if row.lat is None or row.lng is None else Point(lat=row.lat, lng=row.lng)
        outs.append(
            TransitionOut(
                seq=row.seq,
                from_state=source,
                to_state=VisitStatus(row.to_state),
                name="requested" if move is None else move.name,
                actor=_person(names, row.actor_id),
                actor_role=row.actor_role,
                at=row.at,
                position=point,
                accuracy_m=row.accuracy_m,
                reason=scope.keyring.open_text(TRANSITION_REASON, row),
            )
        )
    return outs


async def get_visit(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> VisitDetailOut:
    """One visit with its timeline; a read by anyone but its patient is audited."""
    visit = await find_visit(db, scope, actor, visit_id)
    if actor.id != visit.patient_id:
        await audit(db, scope, actor, "visit.read", visit)
    return await detail_of(db, scope, actor, visit, _now(now))


async def detail_of(
    db: AsyncSession, scope: CallScope, actor: Actor, visit: Visit, now: datetime
) -> VisitDetailOut:
    """The answer of a visit ``actor`` found (or just moved: a nurse who declined it no longer
    finds it, but is answered what they did)."""
    facts = await facts_of(db, scope, actor, visit)
    out = visit_out(scope, actor, visit, await _people(db, [visit]), facts, now)
    out.conversation_id = (await conversation.conversations_of(db, actor, [visit.id])).get(visit.id)
    return VisitDetailOut(**out.model_dump(), timeline=await timeline(db, scope, visit))


async def list_visits(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    *,
    status: list[VisitStatus] | None,
    cursor: str | None,
    limit: int,
    now: datetime | None = None,
) -> Page[VisitOut]:
    """The visits ``actor`` may see, newest request first (``status``: only those)."""
    statement = policy.visible_visits(actor, scope.settings)
    if status:
        statement = statement.where(Visit.status.in_([s.value for s in status]))
    page = await keyset_page(db, statement, Visit, cursor=cursor, limit=limit)
    rows: list[Visit] = page.items
    if rows and actor.role != Role.patient:
        await record(
            db,
            action="visit.list",
            actor_id=actor.id,
            actor_role=actor.role,
            resource_type=RESOURCE,
            context=scope.origin,
            visits=[str(row.id) for row in rows],
        )
    names = await _people(db, rows)
    await scope.unlock(db, *{row.patient_id for row in rows})
    moment = _now(now)
    items = [
        visit_out(scope, actor, row, names, await facts_of(db, scope, actor, row), moment)
        for row in rows
    ]
    threads = await conversation.conversations_of(db, actor, [row.id for row in rows])
    for item in items:
        item.conversation_id = threads.get(item.id)
    return Page(items=items, next_cursor=page.next_cursor)


# -- requesting -----------------------------------------------------------------------------------


def check_window(start: datetime, end: datetime, now: datetime) -> None:
    if end <= start:
        raise Invalid("The window must end after it starts.", code="window_order")
    if end - start > LONGEST_WINDOW:
        raise Invalid("A visit's window is at most 12 hours.", code="window_too_long")
    if end <= now:
        raise Invalid("The window is already over.", code="window_in_past")
    if start > now + FURTHEST_AHEAD:
        raise Invalid("Visits are booked at most 90 days ahead.", code="window_too_far")


async def _patient_of(
    db: AsyncSession, scope: CallScope, actor: Actor, body: VisitIn, now: datetime
) -> uuid.UUID:
    """Whose visit it is: the patient asking, or the patient a doctor orders it for (one they
    care for: an appointment ahead or within ``CAREBRIDGE_RECORD_ACCESS_DAYS``)."""
    if actor.role == Role.patient:
        if body.patient_id is not None:
            raise Invalid(
                "A patient asks for their own visit: leave `patient_id` out.", code="wrong_party"
            )
        await _check_appointment(db, actor, body.appointment_id, actor.id)
        return actor.id
    if actor.role != Role.doctor:
        raise Forbidden("Patients ask for home visits and doctors order them.", code="wrong_role")
    if body.patient_id is None:
        raise Invalid("Name the patient the visit is for as `patient_id`.", code="wrong_party")
    history = await scheduling.care_history(db, body.patient_id, actor.id, now)
    if not in_care(history.last_ends_at, history.upcoming, now, scope.settings.record_access_days):
        raise NotFound("No such patient in your care.", code="patient_not_found")
    await _check_appointment(db, actor, body.appointment_id, body.patient_id)
    return body.patient_id


async def _check_appointment(
    db: AsyncSession, actor: Actor, appointment_id: uuid.UUID | None, patient_id: uuid.UUID
) -> None:
    """The consultation a visit follows: one of the caller's, with the visit's patient."""
    if appointment_id is None:
        return
    appointment = await scheduling.get_appointment(db, actor, appointment_id)
    if appointment.patient_id != patient_id:
        raise NotFound("No such appointment with this patient.", code="not_found")


async def request_visit(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    body: VisitIn,
    *,
    now: datetime | None = None,
) -> VisitDetailOut:
    """A patient asks for a visit, or a doctor orders one; the dispatchers are told."""
    now = _now(now)
    check_window(body.window_start, body.window_end, now)
    patient_id = await _patient_of(db, scope, actor, body, now)
    visit = Visit(
        id=uuid.uuid4(),
        patient_id=patient_id,
        service=body.service.value,
        status=VisitStatus.requested.value,
        requested_by_id=actor.id,
        ordered_by_id=actor.id if actor.role == Role.doctor else None,
        appointment_id=body.appointment_id,
        lat=None if body.point is None else body.point.lat,
        lng=None if body.point is None else body.point.lng,
        window_start=body.window_start,
        window_end=body.window_end,
        seq=1,
        status_changed_at=now,
    )
    await scope.unlock(db, patient_id)
    keyring = scope.keyring
    visit.address_sealed = keyring.seal(VISIT_ADDRESS, visit, body.address.strip())
    visit.access_notes_sealed = keyring.seal(VISIT_ACCESS_NOTES, visit, body.access_notes)
    visit.reason_sealed = keyring.seal(VISIT_REASON, visit, body.reason)
    db.add(visit)
    await db.flush()
    db.add(
        VisitTransition(
            visit_id=visit.id,
            seq=1,
            from_state=None,
            to_state=VisitStatus.requested.value,
            actor_id=actor.id,
            actor_role=actor.role,
            at=now,
        )
    )
    await audit(db, scope, actor, "visit.requested", visit, service=visit.service)
    label = service_out(visit.service).label
    await notify_admins(
        db,
        "A home visit to assign",
        f"{label}, {_window(visit)}: assign a nurse on the dispatch board.",
        data={"visit_id": str(visit.id)},
        link=f"/dispatch?visit={visit.id}",
    )
    await db.flush()
    await db.refresh(visit)
    return await detail_of(db, scope, actor, visit, now)


def _window(visit: Visit) -> str:
    start, end = visit.window_start, visit.window_end
    return f"{start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC"


# -- moving ---------------------------------------------------------------------------------------


def _refused(
    scope: CallScope,
    actor: Actor,
    visit: Visit,
    facts: policy.Facts,
    now: datetime,
    target: VisitStatus,
    refusal: policy.Refusal | None,
) -> Conflict:
    allowed = [s.value for s in policy.allowed(actor, visit, facts, now, scope.settings)]
    if refusal is None:
        refusal = policy.Refusal(
            "illegal_transition",
            f"A visit that is {visit.status.replace('_', ' ')} cannot be moved to "
            f"{target.value.replace('_', ' ')} by you now.",
        )
    return Conflict(refusal.detail, code=refusal.code, current=visit.status, allowed=allowed)


def _check_move(
    scope: CallScope,
    actor: Actor,
    visit: Visit,
    facts: policy.Facts,
    now: datetime,
    target: VisitStatus,
    door: Door,
) -> Move:
    move = states.find(VisitStatus(visit.status), target)
    who = policy.parties(actor, visit, facts)
    if move is None or move.door != door or not move.parties & who:
        raise _refused(scope, actor, visit, facts, now, target, None)
    refusal = policy.time_refusal(move, visit, now, scope.settings)
    if refusal is not None:
        raise _refused(scope, actor, visit, facts, now, target, refusal)
    return move


async def apply_move(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit: Visit,
    move: Move,
    now: datetime,
    *,
    nurse_id: uuid.UUID | None,
    reason: str | None = None,
    point: Point | None = None,
    accuracy_m: float | None = None,
) -> VisitTransition:
    """Make ``move`` (checked by the caller on the locked row): the status, the nurse, the
    times, the numbered transition, the audit row and the live ``status`` event."""
    previous_nurse_id = visit.nurse_id
    visit.status = move.target.value
    visit.nurse_id = nurse_id
    visit.seq += 1
    visit.status_changed_at = now
    if move.target == VisitStatus.arrived:
        visit.arrived_at = now
    if move.target == VisitStatus.completed:
        visit.completed_at = now
    if point is not None and move.target in states.TRACKED:
        visit.last_lat, visit.last_lng = point.lat, point.lng
        visit.last_accuracy_m, visit.last_position_at = accuracy_m, now
    row = VisitTransition(
        id=uuid.uuid4(),
        visit_id=visit.id,
        seq=visit.seq,
        from_state=move.source.value,
        to_state=move.target.value,
        actor_id=actor.id,
        actor_role=actor.role,
        nurse_id=nurse_id,
        at=now,
        lat=None if point is None else point.lat,
        lng=None if point is None else point.lng,
        accuracy_m=accuracy_m,
    )
    await scope.unlock(db, visit.patient_id)
    row.reason_sealed = scope.keyring.seal(TRANSITION_REASON, row, reason, patient=visit.patient_id)
    db.add(row)
    await db.flush()
    await audit(
        db, scope, actor, "visit.moved", visit, source=move.source.value, target=visit.status
    )
    publish_after_commit(
        db,
        policy.topic_of(visit.id),
        "status",
        {
            "visit_id": str(visit.id),
            "status": visit.status,
            "seq": visit.seq,
            "name": move.name,
            "at": now.isoformat(),
            "nurse_id": None if nurse_id is None else str(nurse_id),
        },
        seq=visit.seq,
    )
    await _tell(db, scope, actor, visit, move)
    await conversation.follow_move(db, scope, actor, visit, move, previous_nurse_id)
    return row


async def _active_nurse(db: AsyncSession, nurse_id: uuid.UUID) -> VisitNurse | None:
    found: VisitNurse | None = await db.scalar(
        select(VisitNurse)
        .join(User, User.id == VisitNurse.nurse_id)
        .where(
            VisitNurse.nurse_id == nurse_id,
            User.role == Role.nurse,
            User.status == UserStatus.active,
        )
    )
    return found


async def assign(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit_id: uuid.UUID,
    body: AssignIn,
    *,
    now: datetime | None = None,
) -> VisitDetailOut:
    """A dispatcher gives the visit to a nurse (again, to another one, until they set off)."""
    now = _now(now)
    visit = await find_visit(db, scope, actor, visit_id, lock=True)
    facts = await facts_of(db, scope, actor, visit)
    move = _check_move(scope, actor, visit, facts, now, VisitStatus.assigned, Door.assign)
    nurse = await _active_nurse(db, body.nurse_id)
    if nurse is None:
        raise Invalid(
            "No such nurse on the visit roster (an approved nurse with dispatch details).",
            code="nurse_not_found",
        )
    if visit.service not in nurse.skills:
        raise Invalid(
            f"This nurse does not do {service_out(visit.service).label.lower()}.",
            code="nurse_lacks_skill",
        )
    if body.point is not None:
        visit.lat, visit.lng = body.point.lat, body.point.lng
    await apply_move(db, scope, actor, visit, move, now, nurse_id=nurse.nurse_id)
    return await detail_of(db, scope, actor, visit, now)


async def transition(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit_id: uuid.UUID,
    body: TransitionIn,
    *,
    now: datetime | None = None,
) -> VisitDetailOut:
    """Move a visit along the state machine (``POST /visits/{id}/transitions``)."""
    now = _now(now)
    visit = await find_visit(db, scope, actor, visit_id, lock=True)
    facts = await facts_of(db, scope, actor, visit)
    move = _check_move(scope, actor, visit, facts, now, body.to, Door.transition)
    nurse_id = visit.nurse_id
    if move.target == VisitStatus.requested:  # declined: back to the dispatchers
        nurse_id = None
    elif move.source == VisitStatus.requested and move.target == VisitStatus.accepted:
        nurse_id = actor.id  # claimed
    await apply_move(
        db,
        scope,
        actor,
        visit,
        move,
        now,
        nurse_id=nurse_id,
        reason=body.reason,
        point=body.position,
        accuracy_m=body.accuracy_m,
    )
    return await detail_of(db, scope, actor, visit, now)


# -- telling --------------------------------------------------------------------------------------


async def _tell(db: AsyncSession, scope: CallScope, actor: Actor, visit: Visit, move: Move) -> None:
    """Who hears of a move, through their notification preferences."""
    label = service_out(visit.service).label
    names = await _people(db, [visit])
    nurse = names.get(visit.nurse_id, "Your nurse") if visit.nurse_id else "Your nurse"
    link = f"/visits/{visit.id}"
    data = {"visit_id": str(visit.id), "status": visit.status}
    target = move.target

    async def tell(who: uuid.UUID | None, kind: str, title: str, text: str) -> None:
        if who is not None and who != actor.id:
            # The nurse's link opens their own page of the visit (its buttons and the map).
            to = f"/nurse/visits/{visit.id}" if who == visit.nurse_id else link
            await notify(db, who, kind, title, text, data=data, link=to)

    if move.door == Door.assign:
        await tell(
            visit.nurse_id,
            kinds.VISIT_ASSIGNED.name,
            "A home visit for you",
            f"{label}, {_window(visit)}. Accept or decline it.",
        )
        await tell(
            visit.patient_id,
            kinds.VISIT_ASSIGNED.name,
            "A nurse is assigned to your visit",
            f"{nurse} will come for your {label.lower()}, {_window(visit)}.",
        )
    elif target == VisitStatus.accepted:
        await tell(
            visit.patient_id,
            kinds.VISIT_ACCEPTED.name,
            "Your nurse confirmed the visit",
            f"{nurse} will come for your {label.lower()}, {_window(visit)}.",
        )
    elif target == VisitStatus.requested:
        await notify_admins(
            db,
            "A nurse declined a home visit",
            f"{label}, {_window(visit)}: assign another nurse.",
            data=data,
            link=f"/dispatch?visit={visit.id}",
        )
    elif target == VisitStatus.en_route:
        estimate = position_out(visit, scope.settings)
        eta = (
            ""
            if estimate is None or estimate.eta_minutes is None
            else (f" About {estimate.eta_minutes} min away.")
        )
        await tell(
            visit.patient_id,
            kinds.VISIT_ON_THE_WAY.name,
            "Your nurse is on the way",
            f"{nurse} set off for your {label.lower()}.{eta} Follow them on the map.",
        )
    elif target == VisitStatus.arrived:
        await tell(visit.patient_id, kinds.VISIT_ARRIVED.name, "Your nurse is at your door", nurse)
    elif target == VisitStatus.completed:
        await tell(
            visit.patient_id,
            kinds.VISIT_COMPLETED.name,
            "Your home visit is complete",
            "The report will be ready once a doctor has reviewed it.",
        )
    elif target == VisitStatus.no_show:
        await tell(
            visit.patient_id,
            kinds.VISIT_NO_SHOW.name,
            "Your nurse could not find you",
            f"{nurse} waited at your address. Ask for a new visit when you are home.",
        )
    elif target == VisitStatus.cancelled:
        for who in (visit.patient_id, visit.nurse_id, visit.ordered_by_id):
            await tell(
                who,
                kinds.VISIT_CANCELLED.name,
                "A home visit was cancelled",
                f"{label}, {_window(visit)}.",
            )


# -- the health record's care basis ---------------------------------------------------------------


async def nurse_in_care(db: AsyncSession, nurse_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
    """Whether ``nurse_id`` has an open visit to ``patient_id`` (accepted and not yet signed
    off): the ``care`` basis on which a nurse reads and adds to the patient's health record."""
    found = await db.scalar(
        select(func.count())
        .select_from(Visit)
        .where(
            Visit.nurse_id == nurse_id,
            Visit.patient_id == patient_id,
            Visit.status.in_([s.value for s in states.NURSE_IN_CARE]),
        )
    )
    return bool(found)


async def has_open_visit(db: AsyncSession, patient_id: uuid.UUID) -> bool:
    """Whether the patient has a home visit that has not ended (what must be cancelled or
    finished before their account can be erased)."""
    ended = [s.value for s in (VisitStatus.completed, VisitStatus.signed_off, *states.FINAL)]
    found = await db.scalar(
        select(Visit.id).where(Visit.patient_id == patient_id, Visit.status.not_in(ended)).limit(1)
    )
    return found is not None
