"""Demo home visits: ``nurse.okafor@`` on the roster (based in Porto, every service, on duty),
and two visits of ``patient@``: one accepted by the nurse for now (try "On my way" as the nurse
and follow them as the patient) and one waiting on the dispatch board (``admin@``).

Idempotent: nothing is written while the patient has a visit that is not over.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.directory.demo import DOMAIN
from carebridge.platform.context import CallScope
from carebridge.visits import catalog, states
from carebridge.visits.models import Visit, VisitNurse, VisitStatus, VisitTransition
from carebridge.visits.sealed import VISIT_ACCESS_NOTES, VISIT_ADDRESS, VISIT_REASON

NURSE, PATIENT = f"nurse.okafor@{DOMAIN}", f"patient@{DOMAIN}"
BASE = (41.1579, -8.6291)  # the clinic, Porto
HOME = (41.1496, -8.6110)  # the patient's home, about 1.7 km away


async def _roster(db: AsyncSession, nurse: User) -> None:
    await db.execute(
        insert(VisitNurse)
        .values(
            nurse_id=nurse.id,
            base_lat=BASE[0],
            base_lng=BASE[1],
            skills=list(catalog.CODES),
            radius_km=20,
            on_duty=True,
        )
        .on_conflict_do_nothing()
    )


def _visit(scope: CallScope, patient: User, service: str, start: datetime, notes: str) -> Visit:
    visit = Visit(
        id=uuid.uuid4(),
        patient_id=patient.id,
        service=service,
        status=VisitStatus.requested.value,
        requested_by_id=patient.id,
        lat=HOME[0],
        lng=HOME[1],
        window_start=start,
        window_end=start + timedelta(hours=3),
        seq=1,
    )
    keyring = scope.keyring
    visit.address_sealed = keyring.seal(VISIT_ADDRESS, visit, "Rua de Santa Catarina 312, Porto")
    visit.access_notes_sealed = keyring.seal(VISIT_ACCESS_NOTES, visit, notes)
    visit.reason_sealed = keyring.seal(VISIT_REASON, visit, "Dressing change after surgery")
    return visit


async def seed_demo(db: AsyncSession, settings: Settings) -> int:
    users = {
        u.email: u for u in await db.scalars(select(User).where(User.email.in_([NURSE, PATIENT])))
    }
    nurse, patient = users.get(NURSE), users.get(PATIENT)
    if nurse is None or patient is None:
        return 0
    await _roster(db, nurse)
    open_statuses = [s.value for s in VisitStatus if s not in states.FINAL]
    busy = await db.scalar(
        select(Visit.id).where(Visit.patient_id == patient.id, Visit.status.in_(open_statuses))
    )
    if busy is not None:
        return 0
    scope = CallScope.system(settings)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    await scope.unlock(db, patient.id)
    today = _visit(scope, patient, "wound_care", now - timedelta(minutes=30), "Ring twice")
    later = _visit(scope, patient, "blood_draw", now + timedelta(days=1), "Third floor")
    db.add_all([today, later])
    await db.flush()
    walk = [(None, "requested", patient), ("requested", "assigned", None)]
    walk += [("assigned", "accepted", nurse)]
    for seq, (source, target, actor) in enumerate(walk, start=1):
        db.add(
            VisitTransition(
                visit_id=today.id,
                seq=seq,
                from_state=source,
                to_state=target,
                actor_id=None if actor is None else actor.id,
                actor_role="system" if actor is None else actor.role,
                nurse_id=None if target == "requested" else nurse.id,
                at=now,
            )
        )
        if source is not None:
            await db.flush()
            today.status, today.nurse_id, today.seq = target, nurse.id, seq
            await db.flush()
    db.add(
        VisitTransition(
            visit_id=later.id,
            seq=1,
            to_state="requested",
            actor_id=patient.id,
            actor_role=patient.role,
        )
    )
    return 4


def describe() -> str:
    return (
        f'Home visits: {NURSE} has an accepted visit to {PATIENT} now (press "On my way"); '
        "another waits on the dispatch board (admin@)."
    )
