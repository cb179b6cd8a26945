"""The public verify page of a printed prescription (``GET /verify/{code}``, where its QR code
points). Anyone holding the paper may check it: the page says whether the prescription is valid
or cancelled, when it was issued and by which doctor, and nothing else: no patient, no
diagnosis, no medication. An unknown code is a 404 page.

Mounted with the other pages through ``registry.PAGE_ROUTER_MODULES``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from carebridge.platform.access import PUBLIC
from carebridge.platform.deps import Session
from carebridge.prescriptions import service
from carebridge.web.pages import render

router = APIRouter(include_in_schema=False)

# The code is the whole credential of this page: keep it out of caches and referrers.
_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@router.get("/verify/{code}", dependencies=[PUBLIC])
async def verify_page(request: Request, code: str, db: Session) -> Response:
    found = await service.verify(db, code[:64])
    response = render(
        request,
        "prescriptions/verify.html",
        None,
        status_code=200 if found else 404,
        found=found,
    )
    response.headers.update(_PRIVATE)
    return response
