"""The administrators' security alerts page: the alerts the detection rules raised, by rule and
state, and acknowledging one. It calls the same service as the admin API."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.compliance import alerts
from carebridge.compliance.alert_schemas import AlertSearch
from carebridge.compliance.detection import RULES
from carebridge.platform.context import Context
from carebridge.platform.deps import Session
from carebridge.web.pages import redirect, render
from carebridge.web.session import Csrf, WebAdmin

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/admin/security-alerts")
async def security_alerts_page(
    request: Request,
    actor: WebAdmin,
    db: Session,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """The alerts, newest first; ``rule`` and ``state`` filter them."""
    form = {k: request.query_params.get(k, "").strip() for k in ("rule", "state")}
    try:
        search = AlertSearch.model_validate({k: v for k, v in form.items() if v})
    except ValidationError:
        return render(
            request,
            "compliance/security_alerts.html",
            actor,
            422,
            form=form,
            rules=RULES,
            alerts=[],
            error="Choose a rule and a state from the lists.",
            next_url=None,
        )
    page = await alerts.list_alerts(db, search, cursor=cursor, limit=PAGE_SIZE)
    filters = {k: v for k, v in form.items() if v}
    next_url = (
        f"/admin/security-alerts?{urlencode({**filters, 'cursor': page.next_cursor})}"
        if page.next_cursor
        else None
    )
    return render(
        request,
        "compliance/security_alerts.html",
        actor,
        form=form,
        rules=RULES,
        alerts=page.items,
        next_url=next_url,
    )


@router.post("/admin/security-alerts/{alert_id}/acknowledge", dependencies=[Csrf])
async def acknowledge(
    alert_id: uuid.UUID, actor: WebAdmin, db: Session, context: Context
) -> Response:
    """Mark an alert as looked at (an unknown id: the 404 page)."""
    await alerts.acknowledge(db, actor, alert_id, context)
    return redirect("/admin/security-alerts")
