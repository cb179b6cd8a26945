"""Messaging pages: the inbox (every conversation, latest first, with unread counts), a
conversation (its messages with their files, live, older ones as the reader scrolls up, and the
form to write, with files), and the menu's unread count. They call the same services as the
API; administrators see a conversation's metadata only. Message text is plain text, escaped by
the templates and by the page's script.

An appointment's conversation shows its appointment in a panel (``messaging/_session.html``,
kept live by ``static/js/session.js``); a ``chat`` appointment is held there: its doctor starts
and completes it from the panel, through the appointment's own move (``lifecycle.act``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import TypeAdapter, ValidationError
from starlette.responses import PlainTextResponse, Response

from carebridge.accounts import service as accounts
from carebridge.accounts.actors import Actor
from carebridge.messaging import attachments, service
from carebridge.messaging.schemas import ConversationIn, MemberOut, MessageIn
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Forbidden, Invalid, NotFound
from carebridge.scheduling import lifecycle
from carebridge.web.callers import WebDoctor, WebPatient, WebUser
from carebridge.web.forms import FormLanguage, FormModel
from carebridge.web.pages import redirect, render
from carebridge.web.scheduling.common import when
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)
MESSAGE = FormLanguage({"text": "Message"})
PAGE = 50
_CLIENT_ID = TypeAdapter(uuid.UUID)


@router.get("/conversations")
async def inbox(request: Request, actor: WebUser, db: Session, scope: Scope) -> Response:
    """Your conversations, latest activity first, with unread badges."""
    page = await service.list_conversations(db, scope, actor, None, 100)
    people = {m.user_id for item in page.items for m in item.members}
    names = await accounts.names_of(db, people)
    zone = await accounts.time_zone_of(db, actor.id)
    return render(
        request, "messaging/inbox.html", actor, page=page, names=names, zone=zone, when=when
    )


# Before ``/conversations/{conversation_id}``, which would take "unread" for an id.
@router.get("/conversations/unread")
async def unread(actor: WebUser, db: Session) -> Response:
    """Your unread messages in every conversation, for the menu's badge (js/unread.js)."""
    return PlainTextResponse(str(await service.total_unread(db, actor.id)))


async def conversation_values(
    request: Request, actor: Actor, db: Session, scope: Scope, conversation_id: uuid.UUID
) -> dict[str, Any]:
    """What ``messaging/conversation.html`` (and the call page's panel, which shows the same
    messages and form) renders: the conversation, its latest messages for a member (opening it
    reads them), names, time zone. 404 unless the reader may see the conversation."""
    conversation = await service.read_conversation(db, scope, actor, conversation_id)
    member = any(m.user_id == actor.id for m in conversation.members)
    messages = None
    before = _before_seq(request)
    if member:
        messages = await service.list_messages(
            db, scope, actor, conversation_id, before_seq=before, limit=PAGE
        )
        if messages.items and conversation.unread:
            await service.mark_read(db, scope, actor, conversation_id, conversation.last_seq)
    seen = _seen_by_others(conversation.members, actor)
    names = {m.user_id: m.name for m in conversation.members}
    zone = await accounts.time_zone_of(db, actor.id)
    return {
        "conversation": conversation,
        "messages": messages,
        "names": names,
        "zone": zone,
        "when": when,
        "client_id": uuid.uuid4(),
        "seen": seen,
        "older": before is not None,
        "names_json": json.dumps({str(user_id): name for user_id, name in names.items()}),
        "accept": attachments.ACCEPT,
        "max_files": attachments.MAX_FILES,
    }


async def _conversation_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: Scope,
    conversation_id: uuid.UUID,
    status_code: int = 200,
    **values: Any,
) -> Response:
    page = await conversation_values(request, actor, db, scope, conversation_id)
    return render(
        request,
        "messaging/conversation.html",
        actor,
        status_code=status_code,
        **page,
        **values,
    )


def _seen_by_others(members: Sequence[MemberOut], actor: Actor) -> int:
    """ "Seen": the furthest any other member has read (the sender's messages up to it are
    seen)."""
    return max((m.last_read_seq for m in members if m.user_id != actor.id), default=0)


async def _refused(
    request: Request,
    actor: Actor,
    db: Session,
    scope: Scope,
    conversation_id: uuid.UUID,
    exc: CareBridgeError | ValidationError,
    **values: Any,
) -> Response:
    """A form of the conversation page refused: nothing of it kept, the page again with its
    status and ``values`` (the reason); a conversation not found or not theirs is raised on."""
    await undo_unless_kept(db, exc)
    if isinstance(exc, NotFound | Forbidden):
        raise exc
    status = exc.status if isinstance(exc, CareBridgeError) else 422
    return await _conversation_page(request, actor, db, scope, conversation_id, status, **values)


def _before_seq(request: Request) -> int | None:
    """The page of older messages asked for (``?before_seq=``), or None for the latest."""
    value = request.query_params.get("before_seq", "")
    return int(value) if value.isdigit() and 1 < int(value) < 2**31 else None


@router.get("/conversations/{conversation_id}")
async def conversation_page(
    request: Request, conversation_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """One conversation: its latest messages (live) and the form to write; opening it reads
    them."""
    return await _conversation_page(request, actor, db, scope, conversation_id)


@router.get("/conversations/{conversation_id}/older")
async def older_messages(
    request: Request,
    conversation_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
    before_seq: Annotated[int | None, Query(ge=2, le=2**31 - 1)] = None,
) -> Response:
    """The 50 messages before ``before_seq`` (without it: the latest 50), as the list items
    the page inserts above its first one (js/conversation.js, as the reader scrolls up).
    Members only (404 for anyone else, administrators included, as for the messages
    themselves); a read: audited."""
    messages = await service.list_messages(  # 404 unless a member
        db, scope, actor, conversation_id, before_seq=before_seq, limit=PAGE
    )
    members = await service.members_of(db, conversation_id)
    return render(
        request,
        "messaging/older.html",
        actor,
        messages=messages,
        names={m.user_id: m.name for m in members},
        seen=_seen_by_others(members, actor),
        zone=await accounts.time_zone_of(db, actor.id),
        when=when,
    )


class OpenForm(FormModel):
    """The "Message" button of a doctor's page: the doctor a patient writes to."""

    doctor_id: str = ""


@router.post("/conversations", dependencies=[Csrf])
async def open_thread(
    actor: WebPatient, db: Session, scope: Scope, form: Annotated[OpenForm, Form()]
) -> Response:
    """Open (or find) the care thread with a doctor the patient has seen, and go there."""
    try:
        body = ConversationIn.model_validate({"doctor_id": form.doctor_id})
    except ValidationError as exc:
        raise NotFound("No such doctor.") from exc
    thread = await service.open_care_thread(db, scope, actor, body)
    return redirect(f"/conversations/{thread.id}#latest")


class MessageForm(FormModel):
    """The message being written, and the id the page gave it (a second submit of the same
    form stores nothing new)."""

    text: str = ""
    client_id: str = ""


@router.post("/conversations/{conversation_id}/messages", dependencies=[Csrf])
async def send(
    request: Request,
    conversation_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
    form: Annotated[MessageForm, Form()],
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Write a message, with up to 5 files (or files alone), then back to the conversation. A
    refused file refuses the message, shown again with the reason; nothing is stored."""
    try:
        await _send(db, scope, actor, conversation_id, form, files or [])
    except (CareBridgeError, ValidationError) as exc:
        return await _refused(
            request, actor, db, scope, conversation_id, exc, error=MESSAGE.explain(exc), form=form
        )
    return redirect(f"/conversations/{conversation_id}#latest")


async def _send(
    db: Session,
    scope: Scope,
    actor: Actor,
    conversation_id: uuid.UUID,
    form: MessageForm,
    files: list[UploadFile],
) -> None:
    """Through the API's own use cases: a message, or a message with files."""
    if not files:
        body = MessageIn.model_validate({"text": form.text, "client_id": form.client_id})
        await service.send(db, scope, actor, conversation_id, body)
        return
    uploads = await attachments.read_uploads(files, scope.settings.attachment_max_bytes)
    with_files = attachments.message_with_files(
        _CLIENT_ID.validate_python(form.client_id), form.text
    )
    await attachments.send_with_files(db, scope, actor, conversation_id, with_files, uploads)


# -- the appointment held in the conversation ---------------------------------------------------

# What the session panel's buttons post: the moves of a consultation its doctor makes there.
CONSULTATION_MOVES = ("start", "complete")


@router.get("/conversations/{conversation_id}/session")
async def session_panel(
    request: Request, conversation_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """The session panel alone (an appointment's conversation; empty for a care thread), as the
    conversation page shows it: what the page's script fetches when the appointment changes."""
    conversation = await service.read_conversation(db, scope, actor, conversation_id)
    zone = await accounts.time_zone_of(db, actor.id)
    return render(
        request,
        "messaging/_session.html",
        actor,
        conversation=conversation,
        zone=zone,
        when=when,
        fragment=True,
    )


class ConsultationForm(FormModel):
    """A button of the session panel: ``start`` or ``complete``."""

    move: str = ""


@router.post("/conversations/{conversation_id}/consultation", dependencies=[Csrf])
async def consultation(
    request: Request,
    conversation_id: uuid.UUID,
    actor: WebDoctor,
    db: Session,
    scope: Scope,
    form: Annotated[ConsultationForm, Form()],
) -> Response:
    """Its doctor starts or completes the appointment held in this conversation, by the
    appointment's rules (too early, or not started: the page again with why), then back to
    the conversation."""
    try:
        if form.move not in CONSULTATION_MOVES:
            raise Invalid("Unknown action.", code="unknown_action")
        conversation = await service.get_conversation(db, actor, conversation_id)
        if conversation.appointment_id is None:
            raise NotFound("This conversation holds no appointment.")
        await lifecycle.act(db, scope, actor, conversation.appointment_id, form.move)
    except CareBridgeError as exc:
        return await _refused(
            request, actor, db, scope, conversation_id, exc, session_error=exc.detail
        )
    return redirect(f"/conversations/{conversation_id}#session")
