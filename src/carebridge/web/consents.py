"""Consent pages: the page the app shows before anything else while a required document waits
to be accepted (``/consents``), a person's consents with accepting and withdrawing the optional
ones (``/account/consents``), and the administrators' documents with the form that publishes a
new version (``/admin/consents``). The same services as the API run underneath."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.compliance import consent
from carebridge.compliance.consent_models import ConsentKind
from carebridge.compliance.consent_schemas import ConsentChoice, ConsentDocumentIn
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Invalid
from carebridge.web.forms import PLAIN
from carebridge.web.pages import redirect, render, safe_next
from carebridge.web.session import Csrf, WebAdmin, WebUser

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def choices_of_form(values: list[str]) -> list[ConsentChoice]:
    """``kind:version`` values of a form's checkboxes or hidden fields."""
    pairs = []
    for value in values:
        kind, _, version = value.partition(":")
        if not version.isdigit() or len(version) > 9:
            raise Invalid("The form named a document that does not exist.", code="bad_document")
        pairs.append((kind, int(version)))
    return consent.choices_of(pairs)


# -- before anything else -----------------------------------------------------------------------


@router.get("/consents")
async def consent_page(
    request: Request, actor: WebUser, db: Session, next: str | None = None
) -> Response:
    """The documents to accept before anything else; none left: on to where the person was
    going."""
    pending = await consent.pending_documents(db, consent.person(actor))
    if not pending:
        return redirect(safe_next(next))
    return render(request, "consents/ask.html", actor, documents=pending, next=safe_next(next))


@router.post("/consents", dependencies=[Csrf])
async def accept_pending(
    request: Request,
    actor: WebUser,
    db: Session,
    scope: Scope,
    document: Annotated[list[str], Form()],
    next: Annotated[str, Form()] = "/home",
) -> Response:
    try:
        await consent.accept(db, scope, actor, choices_of_form(document))
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        pending = await consent.pending_documents(db, consent.person(actor))
        values = {"documents": pending, "next": safe_next(next), "error": exc.detail}
        return render(request, "consents/ask.html", actor, exc.status, **values)
    return redirect(f"/consents?next={quote(safe_next(next), safe='')}")


# -- a person's consents ------------------------------------------------------------------------


async def _mine(
    request: Request, actor: Actor, db: Session, status_code: int = 200, **values: object
) -> Response:
    states = await consent.consent_states(db, consent.person(actor))
    return render(request, "consents/mine.html", actor, status_code, consents=states, **values)


@router.get("/account/consents")
async def my_consents(request: Request, actor: WebUser, db: Session) -> Response:
    return await _mine(request, actor, db)


@router.post("/account/consents/accept", dependencies=[Csrf])
async def accept_optional(
    request: Request,
    actor: WebUser,
    db: Session,
    scope: Scope,
    document: Annotated[list[str], Form()],
) -> Response:
    try:
        await consent.accept(db, scope, actor, choices_of_form(document))
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _mine(request, actor, db, exc.status, error=exc.detail)
    return redirect("/account/consents")


@router.post("/account/consents/{kind}/withdraw", dependencies=[Csrf])
async def withdraw(
    request: Request, actor: WebUser, db: Session, scope: Scope, kind: ConsentKind
) -> Response:
    try:
        await consent.withdraw(db, scope, actor, kind)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _mine(request, actor, db, exc.status, error=exc.detail)
    return redirect("/account/consents?withdrawn=1")


# -- the administrators' documents --------------------------------------------------------------


async def _documents(
    request: Request, actor: Actor, db: Session, status_code: int = 200, **values: object
) -> Response:
    page = await consent.list_documents(db, actor, cursor=None, limit=PAGE_SIZE)
    documents = [consent.document_out(d) for d in page.items]
    return render(
        request,
        "consents/admin.html",
        actor,
        status_code,
        documents=documents,
        kinds=list(ConsentKind),
        **values,
    )


@router.get("/admin/consents")
async def admin_documents(request: Request, actor: WebAdmin, db: Session) -> Response:
    return await _documents(request, actor, db)


@router.post("/admin/consents", dependencies=[Csrf])
async def publish(
    request: Request,
    actor: WebAdmin,
    db: Session,
    scope: Scope,
    kind: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    requires_reacceptance: Annotated[str, Form()] = "",
) -> Response:
    form = {"kind": kind, "title": title, "body": body}
    try:
        document = ConsentDocumentIn.model_validate(
            {
                "kind": kind,
                "title": title,
                "body": body,
                "roles": roles or None,
                "requires_reacceptance": bool(requires_reacceptance),
            }
        )
        published = await consent.publish(db, scope, actor, document)
    except (CareBridgeError, ValidationError) as exc:
        await undo_unless_kept(db, exc)
        status = exc.status if isinstance(exc, CareBridgeError) else 422
        return await _documents(request, actor, db, status, form=form, error=PLAIN.explain(exc))
    return redirect(f"/admin/consents?published={published.kind}:{published.version}")
