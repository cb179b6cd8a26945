"""Administrators' pages over other domains: the audit trail (compliance). They call the same
services as the admin API."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.compliance import trail
from carebridge.compliance.schemas import AuditSearch
from carebridge.platform.context import Context
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import Session
from carebridge.platform.errors import CareBridgeError
from carebridge.web.pages import render
from carebridge.web.session import WebAdmin

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
AUDIT_FIELDS = ("actor", "action", "resource_type", "resource_id", "from", "to")


def _problem(exc: CareBridgeError | ValidationError) -> str:
    if isinstance(exc, CareBridgeError):
        return exc.detail
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}".replace("Value error, ", "")
        for e in exc.errors()
    )


def _utc(value: str) -> str:
    """A time from the form's datetime-local field (no offset) is read as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # the schema says what is wrong with it
    return moment.replace(tzinfo=UTC).isoformat() if moment.tzinfo is None else value


def _next_url(path: str, filters: dict[str, str], cursor: str | None) -> str | None:
    return f"{path}?{urlencode({**filters, 'cursor': cursor})}" if cursor else None


# -- the audit trail ----------------------------------------------------------------------------


@router.get("/admin/audit")
async def audit_trail(
    request: Request, actor: WebAdmin, db: Session, context: Context, cursor: str | None = None
) -> Response:
    """Search the audit trail; each search (each page) is itself recorded."""
    form = {k: request.query_params.get(k, "").strip() for k in AUDIT_FIELDS}
    given = {k: _utc(v) if k in ("from", "to") else v for k, v in form.items() if v}
    try:
        search = AuditSearch.model_validate(given)
        page = await trail.search_trail(
            db, actor, search, cursor=cursor, limit=PAGE_SIZE, context=context
        )
    except (CareBridgeError, ValidationError) as exc:
        await undo_unless_kept(db, exc)
        return render(
            request,
            "admin/audit.html",
            actor,
            422,
            form=form,
            events=[],
            error=_problem(exc),
            next_url=None,
        )
    filters = {k: v for k, v in form.items() if v}
    return render(
        request,
        "admin/audit.html",
        actor,
        form=form,
        events=page.items,
        next_url=_next_url("/admin/audit", filters, page.next_cursor),
    )
