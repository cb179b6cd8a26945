"""Who may open a page: the page callers, declared once, as the API's are in
``accounts/actors.py``.

``WebVisitor`` (anyone), ``WebUser`` (signed in: others are sent to the sign-in page) and
``WebAdmin`` come from ``web/session.py``; the role callers below build on ``WebUser``, so a
visitor without a session is sent to sign in first and a signed-in person of another role gets
the 403 page. ``WebDoctor`` admits approved doctors only; ``WebAnyDoctor`` also a doctor still
waiting for approval (for their profile, and to be told why they cannot go online yet).
``WebNurse`` admits approved nurses (their home visits).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, UserStatus
from carebridge.platform.access import caller
from carebridge.platform.errors import Forbidden
from carebridge.web.session import WebAdmin, WebUser, WebVisitor

__all__ = [
    "WebAdmin",
    "WebAnyDoctor",
    "WebDoctor",
    "WebNurse",
    "WebPatient",
    "WebUser",
    "WebVisitor",
]


def _of_role(actor: Actor, role: Role, *, approved: bool = False) -> Actor:
    if actor.role != role:
        raise Forbidden("This page is not for your role.", code="wrong_role")
    if approved and actor.status != UserStatus.active:
        raise Forbidden("Your account is waiting for approval.", code="approval_pending")
    return actor


@caller
async def web_patient(actor: WebUser) -> Actor:
    """A page for patients."""
    return _of_role(actor, Role.patient)


@caller
async def web_doctor(actor: WebUser) -> Actor:
    """A page for doctors an administrator has approved."""
    return _of_role(actor, Role.doctor, approved=True)


@caller
async def web_any_doctor(actor: WebUser) -> Actor:
    """A page for doctors, approved or still waiting for approval."""
    return _of_role(actor, Role.doctor)


@caller
async def web_nurse(actor: WebUser) -> Actor:
    """A page for nurses an administrator has approved (their home visits)."""
    return _of_role(actor, Role.nurse, approved=True)


WebPatient = Annotated[Actor, Depends(web_patient)]
WebDoctor = Annotated[Actor, Depends(web_doctor)]
WebAnyDoctor = Annotated[Actor, Depends(web_any_doctor)]
WebNurse = Annotated[Actor, Depends(web_nurse)]
