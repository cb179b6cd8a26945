"""Consent API: the documents (admins publish versions) and a person's consents (accept,
withdraw).

The API does not refuse other calls while a required version is pending: the web app asks before
anything else, and API clients read ``pending`` in ``GET /api/v1/consents`` and show the document
themselves (``docs/compliance.md``, "Consent")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from carebridge.accounts.actors import AdminActor, AnyUser
from carebridge.accounts.models import Role
from carebridge.compliance import consent
from carebridge.compliance.consent_models import ConsentKind
from carebridge.compliance.consent_schemas import (
    ConsentAcceptance,
    ConsentDocumentIn,
    ConsentDocumentOut,
    MyConsentOut,
    RoleName,
)
from carebridge.platform.access import PUBLIC
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, Unauthenticated
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses

router = APIRouter(tags=["consent"])

Cursor = Annotated[str | None, Query(max_length=512)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.get(
    "/admin/consent-documents",
    response_model=PageOut[ConsentDocumentOut],
    responses=problem_responses(Unauthenticated, Forbidden, Invalid),
)
async def list_consent_documents(
    actor: AdminActor, db: Session, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> Any:
    """Administrators: every published version of every kind, newest first."""
    page = await consent.list_documents(db, actor, cursor=cursor, limit=limit)
    return {"items": [consent.document_out(d) for d in page.items], "next_cursor": page.next_cursor}


@router.post(
    "/admin/consent-documents",
    status_code=201,
    response_model=ConsentDocumentOut,
    responses=problem_responses(Unauthenticated, Forbidden, Invalid),
)
async def publish_consent_document(
    body: ConsentDocumentIn, actor: AdminActor, db: Session, scope: Scope
) -> Any:
    """Administrators: publish a new version of a kind's document (`terms_of_service`,
    `privacy_notice`, `telehealth_consent`: required; `research_sharing`: optional). The
    server numbers it (1, 2, ... per kind). A new version of a required kind asks everyone it
    applies to to accept it again; for `research_sharing` set `requires_reacceptance`.
    `telehealth_consent` and `research_sharing` apply to patients only
    (`consent_roles_patients_only`). Audited as `consent.document_published`."""
    return consent.document_out(await consent.publish(db, scope, actor, body))


@router.get(
    "/consent-documents/current",
    response_model=list[ConsentDocumentOut],
    dependencies=[PUBLIC],
)
async def current_consent_documents(db: Session, role: RoleName | None = None) -> Any:
    """Anyone: the current version of each document, or of those that apply to `role` (a sign-up
    form shows them, and `POST /auth/register` names the required ones in `consents`)."""
    documents = await consent.current_documents(db, None if role is None else Role(role))
    return [consent.document_out(d) for d in documents]


@router.get(
    "/consents",
    response_model=list[MyConsentOut],
    responses=problem_responses(Unauthenticated),
)
async def my_consents(actor: AnyUser, db: Session) -> Any:
    """The current version of each document that applies to you, and your state with it:
    `accepted`, `pending` (a required document to accept: the web app asks for it before any
    other page; an API client should show it and accept it with `POST /me/consents`),
    `not_accepted` (optional, not given) or `withdrawn`. Empty when nothing is published."""
    return await consent.consent_states(db, consent.person(actor))


@router.post(
    "/me/consents",
    response_model=list[MyConsentOut],
    responses=problem_responses(Unauthenticated, Conflict, Invalid),
)
async def accept_consents(
    body: ConsentAcceptance, actor: AnyUser, db: Session, scope: Scope
) -> Any:
    """Accept one or more documents, each named by `kind` and `version`: the version must be
    the current one (409 `consent_version_not_current`: read `GET /consents` again) and apply to
    your role (422 `consent_not_applicable`). Each acceptance is recorded with the time, your
    address and user agent, and audited (`consent.accepted`). Answers your consents."""
    return await consent.accept(db, scope, actor, body.consents)


@router.delete(
    "/me/consents/{kind}",
    response_model=MyConsentOut,
    responses=problem_responses(Unauthenticated, Conflict, Invalid),
)
async def withdraw_consent(kind: ConsentKind, actor: AnyUser, db: Session, scope: Scope) -> Any:
    """Withdraw an optional consent (`research_sharing`), effective at once: your data leaves
    the research extract from the next request. Required documents cannot be withdrawn here
    (409 `consent_required_use_erasure`): to leave CareBridge, ask for your account to be
    erased. 409 `consent_not_accepted` when there is nothing to withdraw. Audited
    (`consent.withdrawn`)."""
    return await consent.withdraw(db, scope, actor, kind)
