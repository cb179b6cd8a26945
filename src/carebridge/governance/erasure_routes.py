"""The patient's erasure API: /api/v1/me/erasure."""

from __future__ import annotations

from fastapi import APIRouter

from carebridge.accounts.actors import PatientActor
from carebridge.governance import erasure
from carebridge.governance.erasure_schemas import ErasureOut
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, NotFound, Unauthenticated
from carebridge.platform.problems import problem_responses

router = APIRouter(prefix="/me/erasure", tags=["compliance"])


@router.post(
    "",
    status_code=202,
    response_model=ErasureOut,
    responses=problem_responses(Unauthenticated, Forbidden, Conflict),
)
async def request_erasure(actor: PatientActor, db: Session, scope: Scope) -> ErasureOut:
    """Patient: erase my account. It happens after the grace period (`due_at`, 14 days unless
    the clinic configured otherwise); until then `DELETE` cancels it. Erasing removes or
    replaces your identifiers, signs you out everywhere, deletes your messages, files,
    notifications and settings; the health data the law requires the clinic to keep (health
    record, consultations, prescriptions, visits, payments) is kept apart under legal hold for
    the configured years, then deleted. `409 care_ahead` while an appointment or home visit is
    still ahead; `409 erasure_pending` when already scheduled."""
    return ErasureOut.of(await erasure.request_erasure(db, scope, actor))


@router.get(
    "", response_model=ErasureOut, responses=problem_responses(Unauthenticated, Forbidden, NotFound)
)
async def erasure_status(actor: PatientActor, db: Session) -> ErasureOut:
    """Patient: my scheduled erasure, or the latest one I cancelled; `404 no_erasure` if I never
    asked."""
    return ErasureOut.of(await erasure.current_request(db, actor))


@router.delete(
    "", response_model=ErasureOut, responses=problem_responses(Unauthenticated, Forbidden, NotFound)
)
async def cancel_erasure(actor: PatientActor, db: Session, scope: Scope) -> ErasureOut:
    """Patient: cancel my scheduled erasure; nothing is deleted. `404 no_erasure` when none is
    scheduled."""
    return ErasureOut.of(await erasure.cancel_erasure(db, scope, actor))
