"""Administrators' pages over other domains: the audit trail (compliance), the notification
deliveries (with retrying a dead one) and the API keys with their last use. They call the same
services as the admin API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts import api_keys
from carebridge.accounts.actors import Actor
from carebridge.accounts.admin import emails_of
from carebridge.compliance import trail, trail_csv
from carebridge.compliance.schemas import AuditSearch
from carebridge.notifications import admin as deliveries
from carebridge.notifications.models import Channel, DeliveryStatus
from carebridge.platform.context import Context
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import CareBridgeError, Invalid
from carebridge.web.pages import redirect, render
from carebridge.web.session import Csrf, WebAdmin

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
AUDIT_FIELDS = ("actor", "subject", "action", "resource_type", "resource_id", "from", "to")


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


def _audit_form(request: Request) -> tuple[dict[str, str], dict[str, str]]:
    """The search form as typed, and the filters it gives (times read as UTC)."""
    form = {k: request.query_params.get(k, "").strip() for k in AUDIT_FIELDS}
    return form, {k: _utc(v) if k in ("from", "to") else v for k, v in form.items() if v}


@router.get("/admin/audit")
async def audit_trail(
    request: Request, actor: WebAdmin, db: Session, context: Context, cursor: str | None = None
) -> Response:
    """Search the audit trail; each search (each page) is itself recorded."""
    form, given = _audit_form(request)
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
        csv_url=f"/admin/audit.csv?{urlencode(filters)}",
    )


@router.get("/admin/audit.csv")
async def audit_trail_csv(
    request: Request, actor: WebAdmin, db: Session, runtime: RuntimeDep, context: Context
) -> Response:
    """The search's events as CSV, as the API's export (recorded: ``audit.exported``)."""
    form, given = _audit_form(request)
    try:
        search = AuditSearch.model_validate(given)
    except ValidationError as exc:
        return render(
            request, "admin/audit.html", actor, 422, form=form, events=[], error=_problem(exc)
        )
    return await trail_csv.csv_response(runtime, actor, search, db=db, context=context)


# -- notification deliveries --------------------------------------------------------------------


def _choice(value: str, allowed: type[Channel] | type[DeliveryStatus], what: str) -> str | None:
    if not value:
        return None
    if value not in {member.value for member in allowed}:
        raise Invalid(f"There is no {what} '{value}'.", code="bad_filter")
    return value


async def _deliveries_page(
    request: Request, actor: Actor, db: Session, status_code: int = 200, **values: Any
) -> Response:
    form = {k: request.query_params.get(k, "").strip() for k in ("status", "channel")}
    cursor = request.query_params.get("cursor") or None
    listed: dict[str, Any] = {"lines": [], "emails": {}, "next_url": None}
    try:
        page = await deliveries.list_deliveries(
            db,
            status=_choice(form["status"], DeliveryStatus, "state"),
            channel=_choice(form["channel"], Channel, "channel"),
            kind=None,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
    except CareBridgeError as exc:
        status_code, values["error"] = exc.status, exc.detail
    else:
        lines = await deliveries.describe(db, page.items)
        filters = {k: v for k, v in form.items() if v}
        listed = {
            "lines": lines,
            "emails": await emails_of(db, {line.recipient_id for line in lines}),
            "next_url": _next_url("/admin/deliveries", filters, page.next_cursor),
        }
    return render(
        request,
        "admin/deliveries.html",
        actor,
        status_code,
        form=form,
        statuses=[s.value for s in DeliveryStatus],
        channels=[c.value for c in Channel],
        **listed,
        **values,
    )


@router.get("/admin/deliveries")
async def deliveries_page(
    request: Request, actor: WebAdmin, db: Session, retried: int = 0
) -> Response:
    """Deliveries of every channel, newest first, by state and channel; a dead one can be sent
    again."""
    notice = "Sent again: the delivery is waiting for its next attempt." if retried else None
    return await _deliveries_page(request, actor, db, notice=notice)


@router.post("/admin/deliveries/{delivery_id}/retry", dependencies=[Csrf])
async def retry_delivery(
    request: Request,
    delivery_id: uuid.UUID,
    actor: WebAdmin,
    db: Session,
    context: Context,
    status: Annotated[str, Form()] = "",
    channel: Annotated[str, Form()] = "",
) -> Response:
    """Send a dead delivery again, then back to the list as it was filtered."""
    try:
        await deliveries.retry_delivery(db, actor, delivery_id, context)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _deliveries_page(request, actor, db, exc.status, error=exc.detail)
    filters = {k: v for k, v in (("status", status), ("channel", channel)) if v}
    return redirect(f"/admin/deliveries?{urlencode({**filters, 'retried': 1})}")


# -- API keys -----------------------------------------------------------------------------------


@router.get("/admin/api-keys")
async def api_keys_page(request: Request, actor: WebAdmin, db: Session) -> Response:
    """The clinic's API keys, newest first, with their scopes and last use (issued and revoked
    through the admin API)."""
    keys = await api_keys.list_keys(db)
    return render(request, "admin/api_keys.html", actor, keys=keys, now=datetime.now(UTC))
