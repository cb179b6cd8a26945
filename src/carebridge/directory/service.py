"""Directory use cases: the specialties catalog, doctor and nurse profiles, one doctor, and the
cache of listings.

Listings (``GET /doctors``, ``/doctors/online``, ``/specialties``, the languages listed doctors
speak) are cached under the ``directory`` namespace of :mod:`carebridge.platform.cache`.
Whatever changes what a listing shows calls :func:`listing_changed` in its transaction: a
profile update, a verification, and a doctor's presence status (the presence domain calls it).
Changes made outside this domain that a listing shows (a doctor renamed on /me, an account
disabled) are seen when cached entries expire, after ``CAREBRIDGE_CACHE_TTL_SECONDS``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User
from carebridge.compliance.service import record
from carebridge.directory.models import DoctorProfile, NurseProfile, Specialty, doctor_specialties
from carebridge.directory.policy import listed_doctor, listed_doctors
from carebridge.directory.schemas import (
    DoctorOut,
    DoctorProfileIn,
    DoctorProfileOut,
    NurseProfileIn,
    NurseProfileOut,
    SpecialtyRef,
)
from carebridge.directory.search import (
    doctor_listing,
    doctor_out,
    profile_fields,
    specialties_of,
)
from carebridge.platform.cache import Cache, invalidate_everywhere
from carebridge.platform.context import RequestContext
from carebridge.platform.db import Database, after_commit
from carebridge.platform.errors import Invalid, NotFound

NAMESPACE = "directory"


def listing_changed(db: AsyncSession) -> None:
    """Drop every cached directory listing once ``db``'s transaction commits (in every process
    when the cache is in Redis); nothing happens if it rolls back. Call it from any change that
    a doctor listing shows, such as a doctor's presence status."""
    after_commit(db, partial(invalidate_everywhere, NAMESPACE))


async def cached_listing(
    cache: Cache,
    database: Database,
    key: str,
    build: Callable[[AsyncSession], Awaitable[bytes]],
) -> bytes:
    """A listing's JSON from the cache, or built in its own read-only transaction. A hit needs
    no database connection at all, which is why listings do not take the request's session."""

    async def produce() -> bytes:
        async with database.transaction() as db:
            return await build(db)

    return await cache.get_or_set(NAMESPACE, key, produce)


# -- the catalog ------------------------------------------------------------------------------


async def list_specialties(db: AsyncSession) -> list[Specialty]:
    return list((await db.scalars(select(Specialty).order_by(Specialty.name))).all())


async def specialty_ids(db: AsyncSession, slugs: Sequence[str]) -> list[uuid.UUID]:
    if not slugs:
        return []
    rows = await db.execute(select(Specialty.slug, Specialty.id).where(Specialty.slug.in_(slugs)))
    found = dict(rows.all())
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        raise Invalid(
            f"Unknown specialties: {', '.join(unknown)}; see /api/v1/specialties.",
            code="unknown_specialty",
            unknown=unknown,
        )
    return [found[slug] for slug in slugs]


async def languages_spoken(db: AsyncSession) -> list[str]:
    """The ISO 639-1 codes the listed doctors speak, each once (what the search's language
    filter offers: choosing any other would find no one)."""
    code = func.unnest(DoctorProfile.languages)
    statement = (
        select(code)
        .select_from(DoctorProfile)
        .join(User, User.id == DoctorProfile.user_id)
        .where(listed_doctor())
        .distinct()
    )
    return sorted((await db.scalars(statement)).all())


async def cached_languages(cache: Cache, database: Database) -> list[str]:
    """:func:`languages_spoken`, cached with the listings (a verification, a profile update
    drops it)."""

    async def build(db: AsyncSession) -> bytes:
        return json.dumps(await languages_spoken(db)).encode()

    codes = json.loads(await cached_listing(cache, database, "languages", build))
    return [str(code) for code in codes]


# -- doctors ----------------------------------------------------------------------------------


async def is_listed(db: AsyncSession, doctor_id: uuid.UUID) -> bool:
    """Whether patients see this doctor (:func:`~carebridge.directory.policy.listed_doctor`)."""
    return bool(await db.scalar(listed_doctors().where(User.id == doctor_id).exists().select()))


async def get_doctor(db: AsyncSession, doctor_id: uuid.UUID, currency: str) -> DoctorOut:
    """A listed doctor (verified, account active), the fee in ``currency`` (the clinic's); any
    other id is not found."""
    row = (await db.execute(doctor_listing().where(User.id == doctor_id))).one_or_none()
    if row is None:
        raise NotFound("No such doctor.")
    return doctor_out(row, currency)


async def get_own_doctor_profile(db: AsyncSession, actor: Actor, currency: str) -> DoctorProfileOut:
    user = await db.get_one(User, actor.id)
    profile = await db.get(DoctorProfile, actor.id) or DoctorProfile(
        user_id=actor.id, bio="", languages=[], time_zone=user.time_zone, rating_count=0
    )
    specialties = (await specialties_of(db, [actor.id])).get(actor.id, [])
    listed = await is_listed(db, actor.id)
    return own_doctor_profile(user, profile, specialties, currency, listed=listed)


def own_doctor_profile(
    user: User,
    profile: DoctorProfile,
    specialties: list[SpecialtyRef],
    currency: str,
    *,
    listed: bool,
) -> DoctorProfileOut:
    return DoctorProfileOut(
        id=user.id,
        name=user.name,
        specialties=specialties,
        license_number=profile.license_number,
        verified_at=profile.verified_at,
        listed=listed,
        **profile_fields(profile, currency),
    )


_DOCTOR_FIELDS = (
    "bio",
    "languages",
    "years_of_experience",
    "consultation_fee",
    "license_number",
    "clinic_address",
    "photo_url",
    "time_zone",
)


async def update_doctor_profile(
    db: AsyncSession,
    actor: Actor,
    body: DoctorProfileIn,
    context: RequestContext,
    currency: str,
) -> DoctorProfileOut:
    """Replace the doctor's profile. A new license number needs verifying again: it takes a
    verified profile out of the listings until an administrator verifies it. The fee is in
    ``currency``, the clinic's: a body naming another currency is refused."""
    check_clinic_currency(body.currency, currency)
    chosen = await specialty_ids(db, body.specialties)
    profile = await db.get(DoctorProfile, actor.id, with_for_update=True)
    if profile is None:
        profile = DoctorProfile(user_id=actor.id)
        db.add(profile)
    reverify = profile.verified_at is not None and body.license_number != profile.license_number
    for field in _DOCTOR_FIELDS:
        setattr(profile, field, getattr(body, field))
    if reverify:
        profile.verified_at = None
        profile.verified_by = None
    await db.flush()
    await set_specialties(db, actor.id, chosen)
    await record(
        db,
        action="directory.doctor_profile_updated",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="doctor_profile",
        resource_id=actor.id,
        context=context,
        verification_cleared=reverify,
    )
    listing_changed(db)
    db.expire(profile)  # the triggers rewrote it (search vector, timestamps)
    return await get_own_doctor_profile(db, actor, currency)


def check_clinic_currency(given: str | None, currency: str) -> None:
    """A profile names no currency (every fee is in the clinic's); older clients that still send
    one may send only the clinic's."""
    if given is not None and given != currency:
        raise Invalid(
            f"Fees are in {currency}, the clinic's currency: leave `currency` out.",
            code="wrong_currency",
            clinic_currency=currency,
        )


async def set_specialties(
    db: AsyncSession, doctor_id: uuid.UUID, chosen: Sequence[uuid.UUID]
) -> None:
    """Only the difference is written: each row changed re-runs the search vector trigger."""
    await db.execute(
        delete(doctor_specialties).where(
            doctor_specialties.c.doctor_id == doctor_id,
            doctor_specialties.c.specialty_id.not_in(chosen),
        )
    )
    if chosen:
        await db.execute(
            insert(doctor_specialties)
            .values([{"doctor_id": doctor_id, "specialty_id": s} for s in chosen])
            .on_conflict_do_nothing()
        )


@dataclass(frozen=True)
class Rating:
    count: int
    average: Decimal | None  # 2 decimals; None while nothing is rated


async def rate_doctor(
    db: AsyncSession, doctor_id: uuid.UUID, tally: Callable[[], Awaitable[Rating]]
) -> None:
    """Set the doctor's rating to what ``tally`` counts while this transaction holds the
    doctor's profile row (``SELECT ... FOR UPDATE``). ``tally`` runs after the lock, so its
    statement sees what the lock's previous holders committed (READ COMMITTED): two ratings
    written at the same moment cannot leave a rating that misses one of them. Nothing happens
    to a doctor without a profile."""
    locked = await db.scalar(
        select(DoctorProfile.user_id).where(DoctorProfile.user_id == doctor_id).with_for_update()
    )
    if locked is None:
        return
    rating = await tally()
    await db.execute(
        update(DoctorProfile)
        .where(DoctorProfile.user_id == doctor_id)
        .values(rating_count=rating.count, rating_average=rating.average)
    )
    listing_changed(db)  # cached listings show the rating and filter and sort by it


# -- nurses -----------------------------------------------------------------------------------


async def get_own_nurse_profile(db: AsyncSession, actor: Actor) -> NurseProfileOut:
    profile = await db.get(NurseProfile, actor.id)
    if profile is None:
        user = await db.get_one(User, actor.id)
        return NurseProfileOut(user_id=actor.id, time_zone=user.time_zone)
    return NurseProfileOut.model_validate(profile)


async def update_nurse_profile(
    db: AsyncSession, actor: Actor, body: NurseProfileIn
) -> NurseProfileOut:
    profile = await db.get(NurseProfile, actor.id, with_for_update=True)
    if profile is None:
        profile = NurseProfile(user_id=actor.id)
        db.add(profile)
    for field, value in body.model_dump().items():
        setattr(profile, field, value)
    await db.flush()
    return NurseProfileOut.model_validate(profile)
