"""Admin use cases of the directory: the verification queue and verifying a doctor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.admin import approve_clinician
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.compliance.service import record
from carebridge.directory.models import DoctorProfile
from carebridge.directory.schemas import AdminDoctorOut, AdminDoctorPage, SpecialtyRef
from carebridge.directory.search import specialties_of
from carebridge.directory.service import listing_changed
from carebridge.platform.context import RequestContext
from carebridge.platform.errors import Conflict, NotFound
from carebridge.platform.pagination import keyset_page


def _doctors(verified: bool | None) -> Select[User]:
    """Doctor accounts (not disabled); ``verified=False``: the queue of those to verify (with or
    without a profile yet)."""
    statement = (
        select(User)
        .outerjoin(DoctorProfile, DoctorProfile.user_id == User.id)
        .where(User.role == Role.doctor, User.status != UserStatus.disabled)
    )
    if verified is True:
        statement = statement.where(DoctorProfile.verified_at.is_not(None))
    elif verified is False:
        statement = statement.where(DoctorProfile.verified_at.is_(None))
    return statement


async def list_doctors(
    db: AsyncSession, *, verified: bool | None, cursor: str | None, limit: int
) -> AdminDoctorPage:
    """Doctor accounts (not disabled), newest first; ``verified=false`` is the queue of those
    to verify (with or without a profile yet)."""
    page = await keyset_page(db, _doctors(verified), User, cursor=cursor, limit=limit)
    ids = [user.id for user in page.items]
    profiles = {
        p.user_id: p
        for p in (await db.scalars(select(DoctorProfile).where(DoctorProfile.user_id.in_(ids))))
    }
    specialties = await specialties_of(db, ids)
    items = [
        admin_doctor_out(user, profiles.get(user.id), specialties.get(user.id, []))
        for user in page.items
    ]
    return AdminDoctorPage(items=items, next_cursor=page.next_cursor)


async def count_to_verify(db: AsyncSession) -> int:
    """How many doctors wait in the verification queue (``list_doctors(verified=False)``)."""
    queue = _doctors(verified=False).subquery()
    return int(await db.scalar(select(func.count()).select_from(queue)) or 0)


def admin_doctor_out(
    user: User, profile: DoctorProfile | None, specialties: list[SpecialtyRef]
) -> AdminDoctorOut:
    return AdminDoctorOut.model_validate(
        {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "account_status": user.status,
            "registered_at": user.created_at,
            "has_profile": profile is not None,
            "license_number": profile.license_number if profile else None,
            "specialties": specialties,
            "verified_at": profile.verified_at if profile else None,
        }
    )


async def verify_doctor(
    db: AsyncSession, actor: Actor, doctor_id: uuid.UUID, context: RequestContext
) -> AdminDoctorOut:
    """Mark the doctor's profile verified (the license was checked) and approve the account if
    it is still waiting: the doctor is then listed. Verifying twice changes nothing."""
    user = await db.get(User, doctor_id, with_for_update=True)
    if user is None or user.role != Role.doctor:
        raise NotFound("No such doctor.")
    if user.status == UserStatus.disabled:
        raise Conflict("Enable the account before verifying it.", code="user_disabled")
    profile = await db.get(DoctorProfile, doctor_id, with_for_update=True)
    if profile is None or not profile.license_number:
        raise Conflict(
            "The doctor has not entered a license number to verify yet.",
            code="profile_incomplete",
        )
    if user.status == UserStatus.pending:
        await approve_clinician(db, actor, doctor_id, context)
    if profile.verified_at is None:
        profile.verified_at = datetime.now(UTC)
        profile.verified_by = actor.id
        await record(
            db,
            action="admin.doctor_verified",
            actor_id=actor.id,
            actor_role=actor.role,
            resource_type="user",
            resource_id=doctor_id,
            context=context,
        )
        listing_changed(db)
    await db.flush()
    specialties = await specialties_of(db, [doctor_id])
    return admin_doctor_out(user, profile, specialties.get(doctor_id, []))
