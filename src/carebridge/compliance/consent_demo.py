"""Demo consent documents: version 1 of each kind, accepted by every demo account (so the demo
users are not stopped by the consent page). Idempotent: a kind already published is left as it
is, and a person who already answered for a kind is not asked again."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role, User
from carebridge.compliance.consent import ALL_ROLES, Person, current_documents, write_answer
from carebridge.compliance.consent_models import (
    PATIENT_KINDS,
    ConsentAction,
    ConsentDocument,
    ConsentEvent,
    ConsentKind,
)
from carebridge.config import Settings
from carebridge.platform.context import SYSTEM

DEMO_DOMAIN = "@demo.example.org"

DOCUMENTS = {
    ConsentKind.terms_of_service: (
        "Terms of service",
        "CareBridge connects you with the clinic's doctors and nurses.\n\n"
        "Use it for care, keep your password to yourself, and call emergency services in an "
        "emergency: CareBridge is not an emergency service.",
    ),
    ConsentKind.privacy_notice: (
        "Privacy notice",
        "The clinic keeps your account and health data to provide your care, encrypted at rest, "
        "and records every access to it. You may ask for a copy of your data or for its "
        "erasure at any time.",
    ),
    ConsentKind.telehealth_consent: (
        "Consent to telehealth",
        "Consultations by video and chat have limits: a clinician may ask you to come in person. "
        "You agree to be cared for at a distance.",
    ),
    ConsentKind.research_sharing: (
        "Sharing for research (optional)",
        "You may let the clinic share your measurements, without your name and under a "
        "pseudonym, for medical research. You can withdraw at any time in your account.",
    ),
}


async def _publish_missing(db: AsyncSession) -> int:
    published = {d.kind for d in await current_documents(db)}
    created = 0
    for kind, (title, body) in DOCUMENTS.items():
        if kind.value in published:
            continue
        roles = [Role.patient.value] if kind in PATIENT_KINDS else list(ALL_ROLES)
        db.add(
            ConsentDocument(
                kind=kind.value,
                version=1,
                title=title,
                body=body,
                roles=roles,
                requires_reacceptance=True,
                acceptance_from=1,
            )
        )
        created += 1
    await db.flush()
    return created


async def seed_demo(db: AsyncSession, settings: Settings) -> int:
    created = await _publish_missing(db)
    documents = await current_documents(db)
    answered = set((await db.execute(select(ConsentEvent.user_id, ConsentEvent.kind))).all())
    users = (await db.scalars(select(User).where(User.email.endswith(DEMO_DOMAIN)))).all()
    for user in users:
        who = Person(user.id, Role(user.role))
        for document in documents:
            if who.role.value not in document.roles or (who.id, document.kind) in answered:
                continue
            await write_answer(db, who, document, ConsentAction.accepted, SYSTEM)
            created += 1
    await db.flush()
    return created
