"""Messaging API: conversations between a patient and their care team, their messages, read
receipts, members and closing. Everything here answers members only (404 for anyone else,
exactly as if the conversation did not exist); administrators read conversations' metadata,
never their messages."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from carebridge.accounts.actors import AnyUser, DoctorActor, StaffActor
from carebridge.messaging import service
from carebridge.messaging.schemas import (
    ConversationIn,
    ConversationOut,
    ConversationPage,
    MemberIn,
    MessageEdit,
    MessageIn,
    MessageOut,
    MessagePage,
    ReadIn,
    UnreadOut,
)
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.inputs import INT32_MAX
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from carebridge.platform.problems import problem_responses

router = APIRouter(tags=["messaging"])
_READ = problem_responses(Unauthenticated, NotFound, Invalid)
_CHANGE = problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, Invalid)
Seq = Annotated[int | None, Query(ge=0, le=INT32_MAX)]


@router.get("/conversations", response_model=ConversationPage, responses=_READ)
async def list_conversations(
    actor: AnyUser,
    db: Session,
    scope: Scope,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> ConversationPage:
    """Your conversations, latest activity first, with your unread counts and total
    (`total_unread`). Administrators get every conversation's metadata (members, counts,
    dates), never messages. Pass `next_cursor` as `cursor` for the next page."""
    return await service.list_conversations(db, scope, actor, cursor, limit)


@router.post("/conversations", status_code=201, response_model=ConversationOut, responses=_CHANGE)
async def open_care_thread(
    body: ConversationIn, actor: AnyUser, db: Session, scope: Scope
) -> ConversationOut:
    """Open a care thread: a patient names a doctor they have had an appointment with (past or
    upcoming) as `doctor_id`, a doctor names such a patient as `patient_id`. The thread you
    already have together is answered again. Codes: `no_care_relationship` (403: no
    appointment together), `wrong_role` (403: nurses and administrators do not open threads),
    `wrong_party` (422)."""
    return await service.open_care_thread(db, scope, actor, body)


@router.get("/conversations/{conversation_id}", response_model=ConversationOut, responses=_READ)
async def read_conversation(
    conversation_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> ConversationOut:
    """One conversation's metadata: members (with how far each has read), message count,
    dates, whether it is closed, your unread count and whether you may write."""
    return await service.read_conversation(db, scope, actor, conversation_id)


@router.get(
    "/conversations/{conversation_id}/messages", response_model=MessagePage, responses=_READ
)
async def list_messages(
    conversation_id: uuid.UUID,
    actor: AnyUser,
    db: Session,
    scope: Scope,
    after_seq: Seq = None,
    before_seq: Seq = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> MessagePage:
    """Messages in sequence order: those after `after_seq` (catching up, oldest first), those
    just before `before_seq` (scrolling back), or the latest. `more` says whether more lie
    beyond the page. A deleted message is a tombstone (`state: deleted`, no text); a text that
    cannot be opened is `state: unreadable` (the others stay readable)."""
    return await service.list_messages(
        db, scope, actor, conversation_id, after_seq=after_seq, before_seq=before_seq, limit=limit
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    response_model=MessageOut,
    responses=_CHANGE,
)
async def send_message(
    conversation_id: uuid.UUID,
    body: MessageIn,
    actor: AnyUser,
    db: Session,
    scope: Scope,
    response: Response,
) -> MessageOut:
    """Write a message (plain text, 1 to 4,000 characters) with a `client_id` of your choice:
    sending the same `client_id` again stores nothing and answers the first message (200
    instead of 201). The other members see it live and are told if they are away. Codes:
    `conversation_closed` (409), `write_window_closed` (409: a patient writes until
    `CAREBRIDGE_MESSAGING_PATIENT_WRITE_DAYS` after their last appointment)."""
    sent = await service.send(db, scope, actor, conversation_id, body)
    if not sent.created:
        response.status_code = 200
    return sent.message


@router.patch(
    "/conversations/{conversation_id}/messages/{message_id}",
    response_model=MessageOut,
    responses=_CHANGE,
)
async def edit_message(
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    body: MessageEdit,
    actor: AnyUser,
    db: Session,
    scope: Scope,
) -> MessageOut:
    """Change the text of a message you sent, within 15 minutes of sending it. Codes:
    `edit_window_closed` (409, with `editable_until`), `message_deleted` (409),
    `not_your_message` (403), `conversation_closed` (409)."""
    return await service.edit_message(db, scope, actor, conversation_id, message_id, body)


@router.delete(
    "/conversations/{conversation_id}/messages/{message_id}",
    response_model=MessageOut,
    responses=_CHANGE,
)
async def delete_message(
    conversation_id: uuid.UUID, message_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> MessageOut:
    """Delete a message you sent: its text is gone, a tombstone ("message deleted") keeps its
    place. Codes: `message_deleted` (409), `not_your_message` (403), `conversation_closed`
    (409)."""
    return await service.delete_message(db, scope, actor, conversation_id, message_id)


@router.post("/conversations/{conversation_id}/read", response_model=UnreadOut, responses=_CHANGE)
async def mark_read(
    conversation_id: uuid.UUID, body: ReadIn, actor: AnyUser, db: Session, scope: Scope
) -> UnreadOut:
    """You have read up to `seq` (it never moves back). The other members see `read` live;
    your unread counts are answered and pushed on `user.<your id>`."""
    return await service.mark_read(db, scope, actor, conversation_id, body.seq)


@router.post(
    "/conversations/{conversation_id}/members", response_model=ConversationOut, responses=_CHANGE
)
async def add_member(
    conversation_id: uuid.UUID, body: MemberIn, actor: StaffActor, db: Session, scope: Scope
) -> ConversationOut:
    """Doctor of the conversation, or administrator: add a nurse or another doctor. Codes:
    `not_a_clinician` (422), `already_member` (409), `conversation_closed` (409)."""
    return await service.add_member(db, scope, actor, conversation_id, body)


@router.post(
    "/conversations/{conversation_id}/close", response_model=ConversationOut, responses=_CHANGE
)
async def close_conversation(
    conversation_id: uuid.UUID, actor: DoctorActor, db: Session, scope: Scope
) -> ConversationOut:
    """Doctor of the conversation: close it. It stays readable; no one writes in it again.
    Code: `already_closed` (409)."""
    return await service.close(db, scope, actor, conversation_id)
