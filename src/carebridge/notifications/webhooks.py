"""Provider callbacks: SMS delivery status, verified by the provider's signature."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from sqlalchemy import update

from carebridge.notifications.models import Channel, Delivery, DeliveryStatus
from carebridge.platform.access import PUBLIC
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import Forbidden
from carebridge.platform.problems import problem_responses
from carebridge.platform.sms import twilio_signature

router = APIRouter(tags=["webhooks"])

_FAILED = {"failed", "undelivered"}


@router.post(
    "/webhooks/sms/status",
    status_code=204,
    dependencies=[PUBLIC],
    responses=problem_responses(Forbidden),
)
async def sms_status(request: Request, db: Session, runtime: RuntimeDep) -> Response:
    """Delivery reports from the SMS provider (Twilio status callbacks). Open to the internet,
    so each request must carry a valid `X-Twilio-Signature`; a failed message becomes `dead`."""
    settings = runtime.settings
    form = {key: str(value) for key, value in (await request.form()).items()}
    token = settings.twilio_auth_token
    url = settings.public_base_url + request.url.path
    given = request.headers.get("x-twilio-signature", "")
    if token is None or not hmac.compare_digest(
        given.encode(), twilio_signature(token.get_secret_value(), url, form).encode()
    ):
        raise Forbidden("The request signature is not valid.", code="bad_signature")
    if form.get("MessageStatus") in _FAILED and form.get("MessageSid"):
        await db.execute(
            update(Delivery)
            .where(
                Delivery.channel == Channel.sms, Delivery.provider_message_id == form["MessageSid"]
            )
            .values(
                status=DeliveryStatus.dead,
                last_error=f"provider: {form['MessageStatus']} {form.get('ErrorCode', '')}".strip(),
            )
        )
    return Response(status_code=204)
