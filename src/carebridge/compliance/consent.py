"""Consent: admins publish versions of the documents people accept; people accept the current
versions that apply to their role (at sign-up, and again when a version asks for it) and may
withdraw the optional ones. Every acceptance and withdrawal is a row (with the request's address
and user agent) and an audit event.

A person's state for a kind is their latest row of that kind: ``accepted`` holds while the
accepted version is at least the current document's ``acceptance_from`` (a new version that asks
everyone again moves it). :func:`consent_states` is the one place that rule is applied to a
person, :func:`holders_of` the one place it is applied to everyone (as a statement).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, and_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.compliance.consent_models import (
    PATIENT_KINDS,
    REQUIRED_KINDS,
    ConsentAction,
    ConsentDocument,
    ConsentEvent,
    ConsentKind,
)
from carebridge.compliance.consent_schemas import (
    ConsentChoice,
    ConsentDocumentIn,
    ConsentDocumentOut,
    ConsentState,
    MyConsentOut,
)
from carebridge.compliance.service import record
from carebridge.platform.context import CallScope, RequestContext
from carebridge.platform.db import lock_for_transaction
from carebridge.platform.errors import Conflict, Invalid
from carebridge.platform.pagination import Page, keyset_page

ALL_ROLES = tuple(role.value for role in Role)


@dataclass(frozen=True)
class Person:
    """Whose consent: a signed-in caller, or an account being created."""

    id: uuid.UUID
    role: Role


def person(actor: Actor) -> Person:
    return Person(actor.id, actor.role)


# -- documents ----------------------------------------------------------------------------------


def document_out(document: ConsentDocument) -> ConsentDocumentOut:
    return ConsentDocumentOut(
        id=document.id,
        kind=ConsentKind(document.kind),
        version=document.version,
        title=document.title,
        body=document.body,
        roles=list(document.roles),
        required=document.kind in REQUIRED_KINDS,
        requires_reacceptance=document.requires_reacceptance,
        published_at=document.published_at,
    )


def _roles_of(body: ConsentDocumentIn) -> list[str]:
    if body.kind in PATIENT_KINDS:
        if body.roles is not None and set(body.roles) != {Role.patient.value}:
            raise Invalid(
                f"A {body.kind.value} document applies to patients only.",
                code="consent_roles_patients_only",
            )
        return [Role.patient.value]
    return sorted(set(body.roles), key=ALL_ROLES.index) if body.roles else list(ALL_ROLES)


async def publish(
    db: AsyncSession, scope: CallScope, actor: Actor, body: ConsentDocumentIn
) -> ConsentDocument:
    """Publish the next version of ``body.kind``: numbered by the server, one at a time per kind
    (an advisory lock), so two admins publishing at once get versions n and n+1."""
    roles = _roles_of(body)
    kind = body.kind.value
    await lock_for_transaction(db, f"consent:{kind}")
    latest = await db.scalar(
        select(ConsentDocument)
        .where(ConsentDocument.kind == kind)
        .order_by(ConsentDocument.version.desc())
        .limit(1)
    )
    version = 1 if latest is None else latest.version + 1
    again = body.requires_reacceptance or body.kind in REQUIRED_KINDS or latest is None
    document = ConsentDocument(
        kind=kind,
        version=version,
        title=body.title,
        body=body.body,
        roles=roles,
        requires_reacceptance=again,
        acceptance_from=version if again or latest is None else latest.acceptance_from,
        published_by_id=actor.id,
        # The clock's time, not the transaction's: versions published in one transaction
        # still list in order.
        published_at=datetime.now(UTC),
    )
    db.add(document)
    await db.flush()
    await record(
        db,
        action="consent.document_published",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="consent_document",
        resource_id=document.id,
        context=scope.origin,
        kind=kind,
        version=version,
    )
    return document


async def list_documents(
    db: AsyncSession, _actor: Actor, *, cursor: str | None, limit: int
) -> Page[ConsentDocument]:
    """Every version of every kind, newest first (administrators)."""
    return await keyset_page(
        db,
        select(ConsentDocument),
        ConsentDocument,
        cursor=cursor,
        limit=limit,
        time_column="published_at",
    )


def _current_statement() -> Select[ConsentDocument]:
    """The current (highest) version of each kind."""
    return (
        select(ConsentDocument)
        .ext(distinct_on(ConsentDocument.kind))
        .order_by(ConsentDocument.kind, ConsentDocument.version.desc())
    )


async def current_documents(db: AsyncSession, role: Role | None = None) -> list[ConsentDocument]:
    """The current version of each kind, in the kinds' order; of those, the ones that apply to
    ``role`` when it is given."""
    documents = list((await db.scalars(_current_statement())).all())
    order = list(ConsentKind)
    documents.sort(key=lambda d: order.index(ConsentKind(d.kind)))
    if role is None:
        return documents
    return [d for d in documents if role.value in d.roles]


# -- a person's state ---------------------------------------------------------------------------


async def _latest_events(db: AsyncSession, user_id: uuid.UUID) -> dict[str, ConsentEvent]:
    statement = (
        select(ConsentEvent)
        .where(ConsentEvent.user_id == user_id)
        .ext(distinct_on(ConsentEvent.kind))
        .order_by(ConsentEvent.kind, ConsentEvent.seq.desc())
    )
    return {event.kind: event for event in (await db.scalars(statement)).all()}


def _state(document: ConsentDocument, latest: ConsentEvent | None) -> ConsentState:
    if latest is not None and latest.action == ConsentAction.withdrawn:
        return "withdrawn"
    if latest is not None and latest.version >= document.acceptance_from:
        return "accepted"
    return "pending" if document.kind in REQUIRED_KINDS else "not_accepted"


async def _accepted_at(
    db: AsyncSession, user_id: uuid.UUID, kind: str, latest: ConsentEvent | None
) -> tuple[int | None, datetime | None]:
    """The version last accepted and when (a withdrawal keeps the acceptance before it)."""
    if latest is not None and latest.action == ConsentAction.accepted:
        return latest.version, latest.at
    if latest is None:
        return None, None
    accepted = await db.scalar(
        select(ConsentEvent)
        .where(
            ConsentEvent.user_id == user_id,
            ConsentEvent.kind == kind,
            ConsentEvent.action == ConsentAction.accepted,
        )
        .order_by(ConsentEvent.seq.desc())
        .limit(1)
    )
    return (accepted.version, accepted.at) if accepted is not None else (None, None)


async def consent_states(db: AsyncSession, who: Person) -> list[MyConsentOut]:
    """The current documents that apply to ``who``, with where they stand with each."""
    documents = await current_documents(db, who.role)
    if not documents:
        return []
    latest = await _latest_events(db, who.id)
    states = []
    for document in documents:
        event = latest.get(document.kind)
        version, at = await _accepted_at(db, who.id, document.kind, event)
        withdrawn = event.at if event is not None and event.action == "withdrawn" else None
        states.append(
            MyConsentOut(
                document=document_out(document),
                state=_state(document, event),
                accepted_version=version,
                accepted_at=at,
                withdrawn_at=withdrawn,
            )
        )
    return states


async def pending_documents(db: AsyncSession, who: Person) -> list[ConsentDocument]:
    """The required documents ``who`` must accept before anything else (the web app asks)."""
    documents = [d for d in await current_documents(db, who.role) if d.kind in REQUIRED_KINDS]
    if not documents:
        return []
    latest = await _latest_events(db, who.id)
    return [d for d in documents if _state(d, latest.get(d.kind)) == "pending"]


# -- accepting and withdrawing ------------------------------------------------------------------


def _chosen(
    documents: Sequence[ConsentDocument], choices: Iterable[ConsentChoice], role: Role
) -> list[ConsentDocument]:
    """The current documents named by ``choices``: each must be its kind's current version
    (409) and apply to ``role`` (422)."""
    current = {d.kind: d for d in documents}
    chosen: dict[str, ConsentDocument] = {}
    for choice in choices:
        document = current.get(choice.kind.value)
        if document is None or document.version != choice.version:
            now = f"version {document.version}" if document else "no version"
            raise Conflict(
                f"{choice.kind.value} version {choice.version} is not the current one "
                f"({now}); read the current version and accept it.",
                code="consent_version_not_current",
            )
        if role.value not in document.roles:
            raise Invalid(
                f"The {choice.kind.value} document does not apply to your role.",
                code="consent_not_applicable",
            )
        chosen[document.kind] = document
    return list(chosen.values())


async def write_answer(
    db: AsyncSession,
    who: Person,
    document: ConsentDocument,
    action: ConsentAction,
    origin: RequestContext,
) -> None:
    """One acceptance or withdrawal: its row (with where it came from) and its audit event."""
    db.add(
        ConsentEvent(
            user_id=who.id,
            document_id=document.id,
            kind=document.kind,
            version=document.version,
            action=action,
            ip=origin.ip,
            user_agent=(origin.user_agent or None) and origin.user_agent[:400],
        )
    )
    await record(
        db,
        action=f"consent.{action.value}",
        actor_id=who.id,
        actor_role=who.role,
        resource_type="consent_document",
        resource_id=document.id,
        subject_id=who.id if who.role == Role.patient else None,
        context=origin,
        kind=document.kind,
        version=document.version,
    )


async def _accept(
    db: AsyncSession, who: Person, choices: Iterable[ConsentChoice], origin: RequestContext
) -> list[ConsentDocument]:
    documents = await current_documents(db, None)
    chosen = _chosen(documents, choices, who.role)
    latest = await _latest_events(db, who.id)
    for document in chosen:
        event = latest.get(document.kind)
        already = (
            event is not None
            and event.action == ConsentAction.accepted
            and event.version == document.version
        )
        if not already:
            await write_answer(db, who, document, ConsentAction.accepted, origin)
    await db.flush()
    return chosen


async def accept(
    db: AsyncSession, scope: CallScope, actor: Actor, choices: Sequence[ConsentChoice]
) -> list[MyConsentOut]:
    """Accept the current versions named; accepting one already accepted changes nothing."""
    await _accept(db, person(actor), choices, scope.origin)
    return await consent_states(db, person(actor))


def choices_of(pairs: Iterable[tuple[str, int]]) -> list[ConsentChoice]:
    """``(kind, version)`` pairs as choices; a kind CareBridge does not know is 422."""
    known = {kind.value: kind for kind in ConsentKind}
    unknown = sorted({kind for kind, _ in pairs if kind not in known})
    if unknown:
        raise Invalid(
            f"Unknown consent kind: {', '.join(unknown)}; the kinds are {', '.join(known)}.",
            code="unknown_consent_kind",
        )
    return [ConsentChoice(kind=known[kind], version=version) for kind, version in pairs]


async def accept_at_sign_up(
    db: AsyncSession, who: Person, choices: Sequence[ConsentChoice], origin: RequestContext
) -> None:
    """A new account accepts the current versions it was shown; every required one that applies
    to its role must be among them (422 ``consent_required``). Nothing published: nothing asked."""
    required = [d for d in await current_documents(db, who.role) if d.kind in REQUIRED_KINDS]
    given = {(c.kind.value, c.version) for c in choices}
    missing = [d for d in required if (d.kind, d.version) not in given]
    if missing:
        names = ", ".join(f"{d.kind} version {d.version}" for d in missing)
        raise Invalid(
            f"Accept the current documents to create an account: {names}.",
            code="consent_required",
        )
    await _accept(db, who, choices, origin)


async def withdraw(
    db: AsyncSession, scope: CallScope, actor: Actor, kind: ConsentKind
) -> MyConsentOut:
    """Withdraw an optional consent, effective at once. A required one cannot be withdrawn:
    leaving CareBridge is erasure (409 ``consent_required_use_erasure``)."""
    if kind in REQUIRED_KINDS:
        raise Conflict(
            f"{kind.value} is required to use CareBridge and cannot be withdrawn on its own; "
            "to leave, ask for your account to be erased.",
            code="consent_required_use_erasure",
        )
    who = person(actor)
    states = {s.document.kind: s for s in await consent_states(db, who)}
    current = states.get(kind)
    if current is None or current.state != "accepted":
        raise Conflict(f"You have not accepted {kind.value}.", code="consent_not_accepted")
    document = await db.get_one(ConsentDocument, current.document.id)
    await write_answer(db, who, document, ConsentAction.withdrawn, scope.origin)
    await db.flush()
    return next(s for s in await consent_states(db, who) if s.document.kind == kind)


def holders_of(kind: ConsentKind) -> Select[tuple[uuid.UUID]]:
    """The ids of everyone whose consent of ``kind`` holds now: their latest row of the kind
    is an acceptance of a version at least the current document's ``acceptance_from``."""
    latest = (
        select(ConsentEvent.user_id, ConsentEvent.action, ConsentEvent.version)
        .where(ConsentEvent.kind == kind.value)
        .ext(distinct_on(ConsentEvent.user_id))
        .order_by(ConsentEvent.user_id, ConsentEvent.seq.desc())
        .subquery()
    )
    current = _current_statement().where(ConsentDocument.kind == kind.value).subquery()
    return select(latest.c.user_id).join(
        current,
        and_(
            latest.c.action == ConsentAction.accepted.value,
            latest.c.version >= current.c.acceptance_from,
        ),
    )
