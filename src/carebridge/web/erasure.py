"""The patient's "Delete my account" page: ask for the erasure, see when it will happen, cancel
it, through ``governance.erasure`` (the same rules, audit rows and notices as the API's)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from carebridge.governance import erasure
from carebridge.governance.erasure_schemas import ErasureOut, ErasureStatus
from carebridge.platform.deps import Scope, Session
from carebridge.platform.erasure import rules
from carebridge.platform.errors import CareBridgeError, NotFound
from carebridge.platform.registry import ERASURE_MODULES
from carebridge.web.callers import WebPatient
from carebridge.web.pages import redirect, render
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)

DONE = {
    "asked": "Your account is scheduled to be erased. We sent you the date.",
    "cancelled": "Cancelled: your account will not be erased.",
}


def _held() -> list[str]:
    """What the clinic keeps under legal hold, in the rules' words, once each."""
    return list(dict.fromkeys(rule.why for rule in rules(ERASURE_MODULES) if rule.held))


async def _page(
    request: Request, actor: WebPatient, db: Session, *, error: str | None = None, done: str = ""
) -> Response:
    try:
        current: ErasureOut | None = ErasureOut.of(await erasure.current_request(db, actor))
    except NotFound:
        current = None
    scheduled = current is not None and current.status == ErasureStatus.scheduled
    return render(
        request,
        "governance/erasure.html",
        actor,
        status_code=409 if error else 200,
        current=current if scheduled else None,
        held=_held(),
        grace_days=request.app.state.runtime.settings.erasure_grace_days,
        error=error,
        notice=DONE.get(done),
    )


@router.get("/account/erasure")
async def erasure_page(
    request: Request, actor: WebPatient, db: Session, done: str = ""
) -> Response:
    return await _page(request, actor, db, done=done)


@router.post("/account/erasure", dependencies=[Csrf])
async def ask_erasure(request: Request, actor: WebPatient, db: Session, scope: Scope) -> Response:
    try:
        await erasure.request_erasure(db, scope, actor)
    except CareBridgeError as error:
        return await _page(request, actor, db, error=error.detail)
    return redirect("/account/erasure?done=asked")


@router.post("/account/erasure/cancel", dependencies=[Csrf])
async def cancel_erasure(
    request: Request, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    try:
        await erasure.cancel_erasure(db, scope, actor)
    except NotFound:
        return redirect("/account/erasure")  # nothing scheduled (another tab): the page says so
    return redirect("/account/erasure?done=cancelled")
