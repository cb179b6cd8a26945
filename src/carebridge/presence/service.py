"""Doctors going online, busy or offline; the ``doctors.presence`` topic; following a doctor.

A status change takes the next number of a database sequence (its ``version``), is published on
``doctors.presence`` after commit with that number as ``seq``, and invalidates cached listings.
A patient subscribing gets a snapshot of every online or busy doctor with their versions, then
deltas: a delta whose version is not newer than what the client holds is stale.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.directory.policy import listed_doctors
from carebridge.directory.service import is_listed, listing_changed
from carebridge.notifications.service import notify_many
from carebridge.platform.errors import NotFound
from carebridge.platform.events import publish_after_commit
from carebridge.platform.pagination import Page, decode_cursor, encode_cursor
from carebridge.presence.models import (
    DoctorPresence,
    Follow,
    PresenceConnection,
    Status,
    presence_version,
)
from carebridge.presence.schemas import FollowOut, PresenceOut

TOPIC = "doctors.presence"


NOT_VERIFIED = "An administrator must verify your licence before you can go online."


async def may_go_online(db: AsyncSession, doctor_id: uuid.UUID) -> bool:
    """Going online (or busy) reaches patients only for a listed doctor: until an administrator
    has verified them, their switch is replaced by :data:`NOT_VERIFIED`. (The API still records
    an unlisted doctor's status and shows it to nobody.)"""
    return await is_listed(db, doctor_id)


def _out(presence: DoctorPresence, name: str) -> PresenceOut:
    return PresenceOut(
        doctor_id=presence.doctor_id,
        name=name,
        status=Status(presence.status),
        version=presence.version,
        changed_at=presence.changed_at,
        last_online_at=presence.last_online_at,
    )


async def get_status(db: AsyncSession, doctor_id: uuid.UUID) -> PresenceOut:
    row = (
        await db.execute(
            select(DoctorPresence, User.name)
            .join(User, User.id == DoctorPresence.doctor_id)
            .where(DoctorPresence.doctor_id == doctor_id)
        )
    ).one_or_none()
    if row is None:
        name = await db.scalar(select(User.name).where(User.id == doctor_id)) or ""
        return PresenceOut(
            doctor_id=doctor_id,
            name=name,
            status=Status.offline,
            version=0,
            changed_at=datetime.now(UTC),
            last_online_at=None,
        )
    return _out(row[0], row[1])


async def set_status(
    db: AsyncSession, settings: Settings, doctor_id: uuid.UUID, status: Status
) -> PresenceOut:
    """Change a doctor's status (the doctor's own switch, or the grace-period sweep). A
    change to the same status publishes nothing."""
    presence = await db.get(DoctorPresence, doctor_id, with_for_update=True)
    if presence is not None and presence.status == status:
        return await get_status(db, doctor_id)
    previous = Status(presence.status) if presence is not None else Status.offline
    now = datetime.now(UTC)
    version = int(await db.scalar(select(presence_version.next_value())) or 0)
    if presence is None:
        presence = DoctorPresence(doctor_id=doctor_id, status=status, version=version)
        db.add(presence)
    presence.status = status
    presence.version = version
    presence.changed_at = now
    if status != Status.offline or previous != Status.offline:
        presence.last_online_at = now
    await db.flush()
    out = await get_status(db, doctor_id)
    if await is_listed(db, doctor_id):
        publish_after_commit(db, TOPIC, "status", _event(out), seq=version)
        listing_changed(db)  # cached listings show status (the 'online now' filter)
        if status == Status.online:
            await _tell_followers(db, settings, out)
    return out


def _event(out: PresenceOut) -> dict[str, Any]:
    return out.model_dump(mode="json")


async def _tell_followers(db: AsyncSession, settings: Settings, doctor: PresenceOut) -> None:
    """Each follower once per window, however often the doctor flaps: the UPDATE claims the
    followers atomically, so two processes cannot both notify the same one."""
    now = datetime.now(UTC)
    window = timedelta(minutes=settings.presence_follow_window_minutes)
    claimed = (
        await db.scalars(
            update(Follow)
            .where(
                Follow.doctor_id == doctor.doctor_id,
                or_(Follow.last_notified_at.is_(None), Follow.last_notified_at <= now - window),
            )
            .values(last_notified_at=now)
            .returning(Follow.patient_id)
        )
    ).all()
    if claimed:
        await notify_many(
            db,
            claimed,
            "doctor_online",
            f"{doctor.name} is online",
            f"{doctor.name} is available for a consultation now.",
            data={"doctor_id": str(doctor.doctor_id)},
            link=f"/doctors/{doctor.doctor_id}",
        )


async def live_snapshot(db: AsyncSession) -> dict[str, Any]:
    """Every listed doctor who is online or busy, with versions (``doctors.presence`` snapshot)."""
    rows = await db.execute(
        listed_doctors()
        .add_columns(DoctorPresence)
        .join(DoctorPresence, DoctorPresence.doctor_id == User.id)
        .where(DoctorPresence.status != Status.offline)
        .order_by(User.name, User.id)
    )
    doctors = [_event(_out(row.DoctorPresence, row.name)) for row in rows]
    version = await db.scalar(select(func.coalesce(func.max(DoctorPresence.version), 0)))
    return {"doctors": doctors, "version": int(version or 0)}


# -- connections and the grace period --------------------------------------------------------


async def connection_opened(
    db: AsyncSession, doctor_id: uuid.UUID, connection_id: uuid.UUID, process_id: str
) -> None:
    db.add(PresenceConnection(id=connection_id, doctor_id=doctor_id, process_id=process_id))
    await db.execute(
        update(DoctorPresence)
        .where(DoctorPresence.doctor_id == doctor_id)
        .values(disconnected_at=None)
    )


def _fresh(settings: Settings, now: datetime) -> Any:
    """A connection row is live while its process keeps refreshing it."""
    return PresenceConnection.seen_at > now - timedelta(seconds=3 * settings.realtime_ping_seconds)


async def connection_closed(
    db: AsyncSession, settings: Settings, doctor_id: uuid.UUID, connection_id: uuid.UUID
) -> bool:
    """Forget the connection; True when it was the doctor's last one and the doctor is not
    offline (the grace period starts)."""
    now = datetime.now(UTC)
    await db.execute(delete(PresenceConnection).where(PresenceConnection.id == connection_id))
    others = await db.scalar(
        select(func.count())
        .select_from(PresenceConnection)
        .where(PresenceConnection.doctor_id == doctor_id, _fresh(settings, now))
    )
    if others:
        return False
    result = await db.execute(
        update(DoctorPresence)
        .where(DoctorPresence.doctor_id == doctor_id, DoctorPresence.status != Status.offline)
        .values(disconnected_at=now)
        .returning(DoctorPresence.doctor_id)
    )
    return result.first() is not None


async def offline_if_gone(db: AsyncSession, settings: Settings, now: datetime) -> list[uuid.UUID]:
    """Doctors whose last connection closed more than the grace period ago, with no live
    connection since, go offline. Returns them."""
    grace = timedelta(seconds=settings.presence_offline_grace_seconds)
    live = select(PresenceConnection.id).where(
        PresenceConnection.doctor_id == DoctorPresence.doctor_id, _fresh(settings, now)
    )
    gone = (
        await db.scalars(
            select(DoctorPresence.doctor_id).where(
                DoctorPresence.status != Status.offline,
                DoctorPresence.disconnected_at <= now - grace,
                ~live.exists(),
            )
        )
    ).all()
    for doctor_id in gone:
        await set_status(db, settings, doctor_id, Status.offline)
    return list(gone)


async def orphaned(db: AsyncSession, settings: Settings, now: datetime) -> None:
    """Connections of a process that died: removed; their doctors start the grace period."""
    stale = (
        await db.scalars(
            delete(PresenceConnection)
            .where(~_fresh(settings, now))
            .returning(PresenceConnection.doctor_id)
        )
    ).all()
    if not stale:
        return
    still = select(PresenceConnection.id).where(
        PresenceConnection.doctor_id == DoctorPresence.doctor_id, _fresh(settings, now)
    )
    await db.execute(
        update(DoctorPresence)
        .where(
            DoctorPresence.doctor_id.in_(set(stale)),
            DoctorPresence.status != Status.offline,
            DoctorPresence.disconnected_at.is_(None),
            ~still.exists(),
        )
        .values(disconnected_at=now)
    )


async def refresh_connections(db: AsyncSession, process_id: str) -> None:
    await db.execute(
        update(PresenceConnection)
        .where(PresenceConnection.process_id == process_id)
        .values(seen_at=func.now())
    )


# -- following ---------------------------------------------------------------------------------


async def check_listed(db: AsyncSession, doctor_id: uuid.UUID) -> None:
    """404 unless a listed doctor (patients may not learn anything about anyone else)."""
    if not await is_listed(db, doctor_id):
        raise NotFound("No such doctor.", code="doctor_not_found")


async def follow(db: AsyncSession, actor: Actor, doctor_id: uuid.UUID) -> None:
    await check_listed(db, doctor_id)
    await db.execute(
        insert(Follow)
        .values(patient_id=actor.id, doctor_id=doctor_id)
        .on_conflict_do_nothing(index_elements=[Follow.patient_id, Follow.doctor_id])
    )


async def unfollow(db: AsyncSession, actor: Actor, doctor_id: uuid.UUID) -> None:
    await check_listed(db, doctor_id)
    await db.execute(
        delete(Follow).where(Follow.patient_id == actor.id, Follow.doctor_id == doctor_id)
    )


async def is_following(db: AsyncSession, actor: Actor, doctor_id: uuid.UUID) -> bool:
    found = await db.scalar(
        select(Follow.doctor_id).where(Follow.patient_id == actor.id, Follow.doctor_id == doctor_id)
    )
    return found is not None


async def following(
    db: AsyncSession, actor: Actor, cursor: str | None, limit: int
) -> Page[FollowOut]:
    """The doctors a patient follows, newest follow first."""
    query = (
        listed_doctors()
        .add_columns(Follow.created_at, DoctorPresence.status, DoctorPresence.last_online_at)
        .join(Follow, and_(Follow.doctor_id == User.id, Follow.patient_id == actor.id))
        .outerjoin(DoctorPresence, DoctorPresence.doctor_id == User.id)
    )
    if cursor:
        followed_at, doctor_id = decode_cursor(cursor)
        query = query.where(tuple_(Follow.created_at, User.id) < tuple_(followed_at, doctor_id))
    rows = (
        await db.execute(query.order_by(Follow.created_at.desc(), User.id.desc()).limit(limit + 1))
    ).all()
    items = [
        FollowOut(
            doctor_id=row.id,
            name=row.name,
            status=Status(row.status or Status.offline),
            last_online_at=row.last_online_at,
            followed_at=row.created_at,
        )
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    next_cursor = encode_cursor(items[-1].followed_at, items[-1].doctor_id) if more else None
    return Page(items=items, next_cursor=next_cursor)
