"""The pre-call check (``/call-check``): before a video call, anyone signed in sees their camera,
hears whether their microphone picks them up, plays a tone on their speakers, and learns whether
this device can reach CareBridge's TURN relay (js/call-check.js). The only page besides the call
that may use the camera and the microphone (``media_page``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from carebridge.platform.deps import RuntimeDep
from carebridge.platform.middleware import media_page
from carebridge.video import service as calls
from carebridge.web.pages import render
from carebridge.web.session import CsrfHeader, WebUser

router = APIRouter(include_in_schema=False)


@router.get("/call-check")
async def call_check_page(request: Request, actor: WebUser, runtime: RuntimeDep) -> Response:
    """Camera, microphone, speakers and the relay, checked before a call."""
    relay_configured = bool(runtime.settings.turn_urls)
    return media_page(render(request, "calls/check.html", actor, relay_configured=relay_configured))


@router.post("/call-check/servers", dependencies=[CsrfHeader])
async def call_check_servers(actor: WebUser, runtime: RuntimeDep) -> Response:
    """The ICE servers for the page's relay check (JSON): as ``POST /api/v1/calls/check``
    answers them, TURN credentials for a few minutes tied to no call."""
    return JSONResponse(calls.check_ice(runtime.settings, actor).model_dump(mode="json"))
