"""Patient profiles: personal data that only the patient reads (their care team later).

Date of birth, address and emergency contact are encrypted at rest with the keyring, bound to
the patient and the field (associated data ``patient_profile:<id>:<field>``): a ciphertext
copied to another row or field does not decrypt. Sex is kept in clear (it is a small closed
set, so encrypting it would hide nothing from someone who can count rows); the phone number is
the account's (``users.phone``). Every read and write is written to the audit trail.
"""

from __future__ import annotations

import json
import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User
from carebridge.compliance.service import record
from carebridge.directory.models import PatientProfile
from carebridge.directory.schemas import EmergencyContact, PatientProfileIn, PatientProfileOut
from carebridge.directory.sealed import ADDRESS, DATE_OF_BIRTH, EMERGENCY_CONTACT
from carebridge.platform.context import CallScope, RequestContext
from carebridge.platform.crypto import Keyring
from carebridge.platform.errors import NotFound


def may_read(actor: Actor, patient_id: uuid.UUID) -> bool:
    """Only the patient, for now; the care team joins when scheduling exists."""
    return actor.id == patient_id


def _profile_out(keyring: Keyring, user: User, profile: PatientProfile | None) -> PatientProfileOut:
    if profile is None:
        return PatientProfileOut(phone=user.phone, updated_at=None)
    born = keyring.open_text(DATE_OF_BIRTH, profile)
    contact = keyring.open_text(EMERGENCY_CONTACT, profile)
    return PatientProfileOut(
        date_of_birth=None if born is None else date.fromisoformat(born),
        sex=profile.sex,  # the database holds it to the same set
        phone=user.phone,
        emergency_contact=None if contact is None else EmergencyContact(**json.loads(contact)),
        address=keyring.open_text(ADDRESS, profile),
        updated_at=profile.updated_at,
    )


async def _audit(
    db: AsyncSession, actor: Actor, action: str, patient_id: uuid.UUID, context: RequestContext
) -> None:
    await record(
        db,
        action=action,
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="patient_profile",
        resource_id=patient_id,
        subject_id=patient_id,
        context=context,
    )


async def get_patient_profile(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    patient_id: uuid.UUID,
) -> PatientProfileOut:
    """The profile of ``patient_id``, if ``actor`` may read it (else: not found)."""
    if not may_read(actor, patient_id):
        raise NotFound("No such patient profile.")
    user = await db.get_one(User, patient_id)
    profile = await db.get(PatientProfile, patient_id)
    await scope.unlock(db, patient_id)
    await _audit(db, actor, "patient_profile.read", patient_id, scope.origin)
    return _profile_out(scope.keyring, user, profile)


async def update_patient_profile(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    body: PatientProfileIn,
) -> PatientProfileOut:
    """Replace the patient's own profile (a field left out is cleared)."""
    user = await db.get_one(User, actor.id, with_for_update=True)
    profile = await db.get(PatientProfile, actor.id, with_for_update=True)
    if profile is None:
        profile = PatientProfile(user_id=actor.id)
        db.add(profile)
    await scope.unlock(db, actor.id)
    born = None if body.date_of_birth is None else body.date_of_birth.isoformat()
    contact = None if body.emergency_contact is None else body.emergency_contact.model_dump_json()
    profile.sex = body.sex
    profile.date_of_birth_sealed = scope.keyring.seal(DATE_OF_BIRTH, profile, born)
    profile.emergency_contact_sealed = scope.keyring.seal(EMERGENCY_CONTACT, profile, contact)
    profile.address_sealed = scope.keyring.seal(ADDRESS, profile, body.address)
    user.phone = body.phone
    await db.flush()
    await db.refresh(profile)
    await _audit(db, actor, "patient_profile.updated", actor.id, scope.origin)
    return _profile_out(scope.keyring, user, profile)
