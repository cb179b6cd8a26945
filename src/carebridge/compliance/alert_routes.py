"""The security alerts' admin API: /api/v1/admin/security-alerts."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from carebridge.accounts.actors import AdminActor
from carebridge.compliance import alerts
from carebridge.compliance.alert_schemas import AlertSearch, SecurityAlertOut
from carebridge.platform.context import Context
from carebridge.platform.deps import Session
from carebridge.platform.errors import Forbidden, Invalid, NotFound
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses

router = APIRouter(prefix="/admin/security-alerts", tags=["admin"])


@router.get(
    "", response_model=PageOut[SecurityAlertOut], responses=problem_responses(Forbidden, Invalid)
)
async def list_security_alerts(
    search: Annotated[AlertSearch, Query()],
    actor: AdminActor,
    db: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Any:
    """The security alerts the detection rules raised, newest first: `rule`
    (`record_snooping`, `break_the_glass`, `failed_signins`, `bulk_export`) and `state`
    (`open` or `acknowledged`) filter them. Administrators only."""
    page = await alerts.list_alerts(db, search, cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post(
    "/{alert_id}/acknowledge",
    response_model=SecurityAlertOut,
    responses=problem_responses(Forbidden, NotFound),
)
async def acknowledge_security_alert(
    alert_id: uuid.UUID, actor: AdminActor, db: Session, context: Context
) -> Any:
    """Mark an alert as looked at (recorded: `security.alert_acknowledged`); acknowledging it
    again changes nothing."""
    return await alerts.acknowledge(db, actor, alert_id, context)
