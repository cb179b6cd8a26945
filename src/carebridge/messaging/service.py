"""Conversations and messages: opening, reading, writing, editing, deleting, read receipts.

Ordering: a message's sequence number is taken by ``UPDATE conversations SET last_seq =
last_seq + 1 ... RETURNING`` in the transaction that inserts it. The update locks the
conversation's row until the commit, so concurrent sends to one conversation take numbers one
after the other, and a send that fails rolls its number back with it: 1, 2, 3 ... without gaps.

Idempotency: a message carries the id its sender's client chose. The conversation's row is locked
(``FOR UPDATE``) before the id is looked up, so a retry racing its first attempt waits for it and
then finds its message (READ COMMITTED: the next statement sees what the first committed).

The text is sealed with the keyring (``messaging/sealed.py``); it is never logged, audited,
put in a notification or a job's arguments. Real-time events go out after the commit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy import func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.compliance.service import audit_values, record
from carebridge.config import Settings
from carebridge.messaging import policy
from carebridge.messaging.attachment_schemas import AttachmentOut
from carebridge.messaging.attachment_views import attachments_of, discard_attachments, patient_of
from carebridge.messaging.models import (
    Conversation,
    ConversationKind,
    ConversationMember,
    MemberRole,
    Message,
)
from carebridge.messaging.notices import fresh_since, notify
from carebridge.messaging.queries import SEND_FACTS, WRITE_MESSAGE, NewMessage, SendQuestion
from carebridge.messaging.schemas import (
    ConversationIn,
    ConversationOut,
    ConversationPage,
    MemberIn,
    MemberOut,
    MessageEdit,
    MessageIn,
    MessageOut,
    MessagePage,
    UnreadOut,
)
from carebridge.messaging.sealed import BODY
from carebridge.messaging.sessions import SESSION_CHANGED, session_event, sessions_of
from carebridge.platform.context import CallScope
from carebridge.platform.crypto import KeyClass, Unreadable
from carebridge.platform.db import Database, driver_connection
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound
from carebridge.platform.events import publish, publish_after_commit
from carebridge.platform.pagination import MAX_PAGE_SIZE, decode_cursor, encode_cursor
from carebridge.scheduling.hooks import Booking, Moved
from carebridge.scheduling.models import AppointmentType
from carebridge.scheduling.service import CareHistory, care_history

TOPIC = "conversation."
USER_TOPIC = "user."
UNREADABLE = "unreadable"


def topic_of(conversation_id: uuid.UUID) -> str:
    return f"{TOPIC}{conversation_id}"


def _not_found() -> NotFound:
    return NotFound("No such conversation.", code="conversation_not_found")


# -- loading ------------------------------------------------------------------------------------


async def get_conversation(
    db: AsyncSession, actor: Actor, conversation_id: uuid.UUID
) -> Conversation:
    """A conversation ``actor`` is a member of; 404 otherwise, exactly as if it did not exist."""
    found: Conversation | None = await db.scalar(
        policy.visible_conversations(actor).where(Conversation.id == conversation_id)
    )
    if found is None:
        raise _not_found()
    return found


async def get_metadata(db: AsyncSession, actor: Actor, conversation_id: uuid.UUID) -> Conversation:
    """A conversation whose metadata ``actor`` may read (a member's, any for an admin)."""
    found: Conversation | None = await db.scalar(
        policy.visible_metadata(actor).where(Conversation.id == conversation_id)
    )
    if found is None:
        raise _not_found()
    return found


async def is_member(db: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    found = await db.scalar(
        select(ConversationMember.user_id).where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.user_id == user_id,
        )
    )
    return found is not None


async def history_of(db: AsyncSession, conversation: Conversation, now: datetime) -> CareHistory:
    if conversation.doctor_id is None:  # a home visit's: no appointments decide its writing
        return CareHistory(None, False)
    return await care_history(db, conversation.patient_id, conversation.doctor_id, now)


async def members_of(db: AsyncSession, conversation_id: uuid.UUID) -> list[MemberOut]:
    """The members of a conversation the caller has been let into, with how far each has read."""
    return (await _members(db, [conversation_id]))[conversation_id]


async def _members(
    db: AsyncSession, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[MemberOut]]:
    rows = (
        await db.execute(
            select(ConversationMember, User.name)
            .join(User, User.id == ConversationMember.user_id)
            .where(ConversationMember.conversation_id.in_(conversation_ids))
            .order_by(ConversationMember.added_at, ConversationMember.user_id)
        )
    ).all()
    found: dict[uuid.UUID, list[MemberOut]] = {i: [] for i in conversation_ids}
    for member, name in rows:
        found[member.conversation_id].append(
            MemberOut(
                user_id=member.user_id,
                name=name,
                role=member.role,
                added_at=member.added_at,
                last_read_seq=member.last_read_seq,
            )
        )
    return found


async def _outs(
    db: AsyncSession, settings: Settings, actor: Actor, conversations: Sequence[Conversation]
) -> list[ConversationOut]:
    now = datetime.now(UTC)
    members = await _members(db, [c.id for c in conversations])
    sessions = await sessions_of(db, settings, actor, conversations, now)
    outs = []
    for conversation in conversations:
        mine = next((m for m in members[conversation.id] if m.user_id == actor.id), None)
        may_write = False
        if mine is not None:
            history = await history_of(db, conversation, now)
            refusal = policy.write_refusal(settings, actor, conversation, history, now)
            may_write = refusal is None
        outs.append(
            ConversationOut(
                id=conversation.id,
                kind=conversation.kind,
                appointment_id=conversation.appointment_id,
                visit_id=conversation.visit_id,
                patient_id=conversation.patient_id,
                doctor_id=conversation.doctor_id,
                members=members[conversation.id],
                message_count=conversation.last_seq,
                last_seq=conversation.last_seq,
                last_message_at=conversation.last_message_at,
                created_at=conversation.created_at,
                closed_at=conversation.closed_at,
                unread=None if mine is None else conversation.last_seq - mine.last_read_seq,
                may_write=may_write,
                session=sessions.get(conversation.id),
            )
        )
    return outs


async def read_conversation(
    db: AsyncSession, scope: CallScope, actor: Actor, conversation_id: uuid.UUID
) -> ConversationOut:
    """One conversation's metadata: a member's, or any for an administrator (no messages)."""
    conversation = await get_metadata(db, actor, conversation_id)
    return (await _outs(db, scope.settings, actor, [conversation]))[0]


async def list_conversations(
    db: AsyncSession, scope: CallScope, actor: Actor, cursor: str | None, limit: int
) -> ConversationPage:
    """The caller's conversations (every one's metadata for an administrator), the latest
    activity first, with the caller's unread counts."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    active = func.coalesce(Conversation.last_message_at, Conversation.created_at)
    statement = policy.visible_metadata(actor).add_columns(active)
    if cursor:
        at, last_id = decode_cursor(cursor)
        statement = statement.where(tuple_(active, Conversation.id) < tuple_(at, last_id))
    statement = statement.order_by(active.desc(), Conversation.id.desc()).limit(limit + 1)
    rows = (await db.execute(statement)).all()
    page = [row[0] for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(rows[limit - 1][1], page[-1].id)
    items = await _outs(db, scope.settings, actor, page)
    return ConversationPage(
        items=items, next_cursor=next_cursor, total_unread=await total_unread(db, actor.id)
    )


# -- unread -------------------------------------------------------------------------------------


async def total_unread(db: AsyncSession, user_id: uuid.UUID) -> int:
    """Every unread message of ``user_id`` in all their conversations (``policy.unread_total``)."""
    total = await db.scalar(select(policy.unread_total(user_id)))
    return int(total or 0)


def _unread_count(
    user_id: uuid.UUID, conversation_id: uuid.UUID, last_seq: int, last_read: int, total: int
) -> tuple[str, str, dict[str, Any]]:
    """The ``conversation.unread_count`` event a member gets on their ``user.<id>``."""
    data = {
        "conversation_id": str(conversation_id),
        "unread": max(0, last_seq - last_read),
        "last_seq": last_seq,
        "total_unread": int(total),
    }
    return f"{USER_TOPIC}{user_id}", "conversation.unread_count", data


# -- opening ------------------------------------------------------------------------------------


async def _add_members(
    db: AsyncSession,
    conversation_id: uuid.UUID,
    members: Sequence[tuple[uuid.UUID, MemberRole]],
    added_by: uuid.UUID | None,
) -> None:
    await db.execute(
        insert(ConversationMember)
        .values(
            [
                {
                    "conversation_id": conversation_id,
                    "user_id": user_id,
                    "role": str(role),
                    "added_by": added_by,
                }
                for user_id, role in members
            ]
        )
        .on_conflict_do_nothing()
    )


async def on_booked(db: AsyncSession, booked: Booking) -> None:
    """A booked appointment gets its conversation (its patient and doctor as members), in the
    booking's transaction."""
    appointment = booked.appointment
    conversation_id = uuid.uuid4()
    created = await db.scalar(
        insert(Conversation)
        .values(
            id=conversation_id,
            kind=str(ConversationKind.appointment),
            appointment_id=appointment.id,
            patient_id=appointment.patient_id,
            doctor_id=appointment.doctor_id,
            opened_by=appointment.patient_id,
        )
        .on_conflict_do_nothing()
        .returning(Conversation.id)
    )
    if created is None:
        return
    await _add_members(
        db,
        conversation_id,
        [(appointment.patient_id, MemberRole.patient), (appointment.doctor_id, MemberRole.doctor)],
        appointment.patient_id,
    )


async def on_moved(db: AsyncSession, moved: Moved) -> None:
    """A person moved an appointment (started, completed, missed, cancelled, moved it): the
    members of its conversation see it live (``session.changed``), and completing a ``chat``
    appointment closes its conversation as its doctor closing it would (it stays readable). A
    no-show or a cancellation leaves the conversation open: the doctor closes it if they wish
    (docs/messaging.md, "A chat appointment")."""
    appointment = moved.appointment
    conversation: Conversation | None = await db.scalar(
        select(Conversation).where(Conversation.appointment_id == appointment.id)
    )
    if conversation is None:
        return
    publish_after_commit(db, topic_of(conversation.id), SESSION_CHANGED, session_event(appointment))
    if moved.move != "complete" or appointment.type != AppointmentType.chat:
        return
    member = await is_member(db, conversation.id, moved.actor.id)
    if policy.may_close(moved.actor, conversation, member):
        await _close_now(db, moved.scope, moved.actor, conversation, because="appointment.complete")


async def conversation_of_appointment(
    db: AsyncSession, actor: Actor, appointment_id: uuid.UUID
) -> Conversation | None:
    """The conversation of an appointment, if ``actor`` is one of its members."""
    found: Conversation | None = await db.scalar(
        policy.visible_conversations(actor).where(Conversation.appointment_id == appointment_id)
    )
    return found


async def may_message(db: AsyncSession, actor: Actor, doctor_id: uuid.UUID) -> bool:
    """Whether a patient may open (or has) a care thread with ``doctor_id``: the pages' "Message"
    button, shown by the rule :func:`open_care_thread` refuses by."""
    if actor.role != Role.patient:
        return False
    history = await care_history(db, actor.id, doctor_id, datetime.now(UTC))
    return policy.may_open_care_thread(history)


async def open_care_thread(
    db: AsyncSession, scope: CallScope, actor: Actor, body: ConversationIn
) -> ConversationOut:
    """A patient opens a thread with a doctor they have had an appointment with (past or
    upcoming), or that doctor with the patient; the one they already have is answered again."""
    if actor.role not in (Role.patient, Role.doctor):
        raise Forbidden("Patients and their doctors open care threads.", code="wrong_role")
    patient_id = actor.id if actor.role == Role.patient else body.patient_id
    doctor_id = actor.id if actor.role == Role.doctor else body.doctor_id
    if (
        patient_id is None
        or doctor_id is None
        or body.patient_id not in (None, patient_id)
        or body.doctor_id not in (None, doctor_id)
    ):
        other = "doctor_id" if actor.role == Role.patient else "patient_id"
        raise Invalid(f"Name the other person as `{other}`.", code="wrong_party")
    history = await care_history(db, patient_id, doctor_id, datetime.now(UTC))
    if not policy.may_open_care_thread(history):
        raise Forbidden(
            "You can write to each other once you have had an appointment together.",
            code="no_care_relationship",
        )
    conversation_id = await db.scalar(
        insert(Conversation)
        .values(
            kind=str(ConversationKind.care),
            patient_id=patient_id,
            doctor_id=doctor_id,
            opened_by=actor.id,
        )
        .on_conflict_do_nothing(
            index_elements=["patient_id", "doctor_id"], index_where=text("kind = 'care'")
        )
        .returning(Conversation.id)
    )
    if conversation_id is None:  # they have one: answer it
        conversation_id = await db.scalar(
            select(Conversation.id).where(
                Conversation.kind == "care",
                Conversation.patient_id == patient_id,
                Conversation.doctor_id == doctor_id,
            )
        )
    else:
        await _add_members(
            db,
            conversation_id,
            [(patient_id, MemberRole.patient), (doctor_id, MemberRole.doctor)],
            actor.id,
        )
        await _audit(db, scope, actor, "conversation.opened", conversation_id)
    assert conversation_id is not None
    return await read_conversation(db, scope, actor, conversation_id)


# -- the audit trail ----------------------------------------------------------------------------


async def _audit(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    action: str,
    conversation_id: uuid.UUID,
    message: Message | None = None,
    **extra: Any,
) -> None:
    """An audit row: who did what to which conversation or message. Never the text."""
    if message is not None:
        extra["seq"] = message.seq
    await record(
        db,
        action=action,
        actor_id=actor.id,
        actor_role=str(actor.role),
        resource_type="message" if message is not None else "conversation",
        resource_id=message.id if message is not None else conversation_id,
        subject_id=await patient_of(db, conversation_id),
        context=scope.origin,
        conversation_id=str(conversation_id),
        **extra,
    )


# -- messages -----------------------------------------------------------------------------------


def message_out(
    scope: CallScope, message: Message, failures: list[Unreadable] | None = None
) -> MessageOut:
    """A message as members read it: the text, a tombstone, or the marker of a text that does
    not open (the others stay readable; the failure is added to ``failures`` to be audited)."""
    text: str | None = None
    state = "deleted" if message.deleted_at is not None else "ok"
    if state == "ok":
        try:
            text = scope.keyring.open_text(BODY, message)
        except Unreadable as exc:
            state = UNREADABLE
            if failures is not None:
                failures.append(exc)
    return MessageOut(
        id=message.id,
        conversation_id=message.conversation_id,
        seq=message.seq,
        sender_id=message.sender_id,
        client_id=message.client_id,
        text=text,
        state=state,
        created_at=message.created_at,
        edited_at=message.edited_at,
        deleted_at=message.deleted_at,
    )


async def _audit_unreadable(
    db: AsyncSession, scope: CallScope, actor: Actor, failures: Sequence[Unreadable]
) -> None:
    """The ``sealed.unreadable`` row of each text that did not open, as the compliance domain
    writes it for a value that fails a whole request (the column, the row, never the value)."""
    for failure in failures:
        await record(
            db,
            action="sealed.unreadable",
            outcome="failure",
            actor_id=actor.id,
            actor_role=str(actor.role),
            resource_type=failure.column.table,
            resource_id=failure.row_id,
            context=scope.origin,
            column=failure.column.name,
            reason=failure.reason,
        )


async def list_messages(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    conversation_id: uuid.UUID,
    *,
    after_seq: int | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> MessagePage:
    """A member's page of messages in sequence order: after ``after_seq`` (oldest first), before
    ``before_seq`` (the latest of those), or the latest. A read of health data: audited."""
    conversation = await get_conversation(db, actor, conversation_id)
    failures: list[Unreadable] = []
    page = await messages_between(
        db,
        scope,
        conversation.id,
        after_seq=after_seq,
        before_seq=before_seq,
        limit=limit,
        failures=failures,
    )
    if page.items:
        await _audit(
            db,
            scope,
            actor,
            "messages.read",
            conversation.id,
            first_seq=page.items[0].seq,
            last_seq=page.items[-1].seq,
        )
        await _audit_unreadable(db, scope, actor, failures)
    return page


async def messages_between(
    db: AsyncSession,
    scope: CallScope,
    conversation_id: uuid.UUID,
    *,
    after_seq: int | None,
    before_seq: int | None,
    limit: int,
    failures: list[Unreadable] | None = None,
) -> MessagePage:
    """Messages of a conversation already authorized, in sequence order (see
    :func:`list_messages`)."""
    if after_seq is not None and before_seq is not None and before_seq <= after_seq + 1:
        raise Invalid("`before_seq` must be above `after_seq` + 1.", code="empty_range")
    statement = select(Message).where(Message.conversation_id == conversation_id)
    if after_seq is not None:
        statement = statement.where(Message.seq > after_seq)
    if before_seq is not None:
        statement = statement.where(Message.seq < before_seq)
    newest_first = after_seq is None
    order = Message.seq.desc() if newest_first else Message.seq
    rows = list((await db.scalars(statement.order_by(order).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if newest_first:
        rows.reverse()
    await scope.unlock_sealed(db, *(row.body_sealed for row in rows))
    items = [message_out(scope, row, failures) for row in rows]
    files = await attachments_of(db, [item.id for item in items if item.state != "deleted"])
    for item in items:
        item.attachments = files.get(item.id, [])
    return MessagePage(items=items, more=more)


async def _sent_before(
    db: AsyncSession, conversation_id: uuid.UUID, sender_id: uuid.UUID, client_id: uuid.UUID
) -> Message | None:
    found: Message | None = await db.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id,
            Message.sender_id == sender_id,
            Message.client_id == client_id,
        )
    )
    return found


def _check_may_write(
    settings: Settings,
    actor: Actor,
    conversation: policy.Writable,
    history: CareHistory,
    now: datetime,
) -> None:
    refusal = policy.write_refusal(settings, actor, conversation, history, now)
    if refusal == "conversation_closed":
        raise _closed()
    if refusal is not None:
        days = settings.messaging_patient_write_days
        raise Conflict(
            f"You can write for {days} days after your last appointment; book another to "
            "write again.",
            code=refusal,
        )


def _closed() -> Conflict:
    return Conflict("This conversation is closed: it can be read, not written.", code=_CLOSED)


_CLOSED = "conversation_closed"


@dataclass(frozen=True)
class Sent:
    message: MessageOut
    created: bool  # False: the same client id was sent before, this is the first result
    shown: dict[str, Any] | None = None  # ``message`` as JSON data, when made already


# Called with a message just inserted, in its transaction: stores what was sent with it and
# answers it as the message's ``attachments`` (messaging/attachments.py).
Attach = Callable[[MessageOut], Awaitable[list[AttachmentOut]]]


async def send(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    conversation_id: uuid.UUID,
    body: MessageIn,
    attach: Attach | None = None,
) -> Sent:
    """A member writes a message; a retry with the same ``client_id`` answers the first.

    Two hand-written statements (``messaging/queries.py``, :func:`_write`): the conversation
    locked with what the send decides on, then the writes; the ORM only for a retry's first
    message and for the notifications of members who are not connected."""
    connection = await driver_connection(db)
    written = await _write(connection, scope, actor, conversation_id, body, db)
    if written is None:
        return await _sent_first(db, scope, conversation_id, actor.id, body.client_id)
    if attach is not None:
        written.out.attachments = await attach(written.out)
    for topic, event, data in _events(written):
        publish_after_commit(db, topic, event, data)
    await notify(db, conversation_id, written.notified)
    return Sent(written.out, created=True)


class _ThroughSession(Exception):
    """A live send that needs the ORM: rolled back, and sent again through :func:`send`."""


async def send_live(
    database: Database, scope: CallScope, actor: Actor, conversation_id: uuid.UUID, body: MessageIn
) -> Sent:
    """The WebSocket's send: :func:`send`'s statements in a transaction without an ORM session
    (``Database.driver_tx``), for the hot path. What needs the ORM, a retry's first message and
    the notification of members who are not connected (at most one per member and conversation
    every 10 minutes), is rolled back and sent through :func:`send` in a session instead: the
    same statements, so the same rules."""
    try:
        async with database.driver_tx() as transaction:
            written = await _write(
                transaction.connection, scope, actor, conversation_id, body, None
            )
            if written is None or written.notified:
                raise _ThroughSession
            events = _events(written)
            for topic, event, data in events:
                transaction.after_commit(partial(publish, topic, event, data))
            return Sent(written.out, created=True, shown=events[0][2])
    except _ThroughSession:
        pass
    async with database.transaction() as db:
        return await send(db, scope, actor, conversation_id, body)


@dataclass(frozen=True)
class _Written:
    """A message written: as members read it, the other members' unread counts
    ``(user_id, last_read_seq, total unread)`` and those to notify."""

    out: MessageOut
    others: Sequence[tuple[uuid.UUID, int, int]]
    notified: Sequence[uuid.UUID]


async def _write(
    connection: asyncpg.Connection,
    scope: CallScope,
    actor: Actor,
    conversation_id: uuid.UUID,
    body: MessageIn,
    db: AsyncSession | None,
) -> _Written | None:
    """Decide and write a message (``queries.SEND_FACTS``, ``queries.WRITE_MESSAGE``); None when
    this client id was stored before (the caller answers that first message). The patient's
    data key is cached after their first message: loaded through ``db`` when it is not, or, on
    the live path (no ``db``), the send goes through the session instead."""
    now = datetime.now(UTC)
    question = SendQuestion(conversation_id, actor.id, body.client_id, now)
    facts = await connection.fetchrow(SEND_FACTS.sql, *SEND_FACTS.args(question))
    if facts is None:
        raise _not_found()
    if facts["earlier_id"] is not None:
        return None
    history = CareHistory(facts["last_ends_at"], facts["upcoming"])
    conversation = _Facts(facts["closed_at"], facts["appointment_id"], facts["kind"])
    _check_may_write(scope.settings, actor, conversation, history, now)
    patient_id: uuid.UUID = facts["patient_id"]
    if scope.keyring.data_key(patient_id, KeyClass.personal) is None:
        if db is None:
            raise _ThroughSession
        await scope.unlock(db, patient_id)
    message_id = uuid.uuid4()
    sealed = scope.keyring.seal(
        BODY, {"id": message_id, "conversation_id": conversation_id}, body.text, patient=patient_id
    )
    logged = audit_values(
        action="message.sent",
        actor_id=actor.id,
        actor_role=str(actor.role),
        resource_type="message",
        resource_id=message_id,
        subject_id=facts["patient_id"],
        context=scope.origin,
        conversation_id=str(conversation_id),
    )
    logged["details"] = json.dumps(logged["details"])
    written = NewMessage(
        id=message_id,
        conversation_id=conversation_id,
        sender_id=actor.id,
        client_id=body.client_id,
        body_sealed=sealed,
        now=now,
        fresh_since=fresh_since(scope.settings, now),
        audit=logged,
    )
    row = await connection.fetchrow(WRITE_MESSAGE.sql, *WRITE_MESSAGE.args(written))
    if row is None:  # the first attempt of this retry committed while this one waited
        return None
    out = MessageOut(
        id=message_id,
        conversation_id=conversation_id,
        seq=row["seq"],
        sender_id=actor.id,
        client_id=body.client_id,
        text=body.text,
        state="ok",
        created_at=now,
        edited_at=None,
        deleted_at=None,
    )
    return _Written(out, row["others"], row["notified"])


def _events(written: _Written) -> list[tuple[str, str, dict[str, Any]]]:
    """What a message written shows live: ``message.created`` to the conversation, and each
    other member's unread counts on their ``user.<id>``."""
    out = written.out
    events = [(topic_of(out.conversation_id), "message.created", _event(out))]
    for user_id, last_read, total in written.others:
        events.append(_unread_count(user_id, out.conversation_id, out.seq, last_read, total))
    return events


class _Facts(NamedTuple):
    """What the write rule reads of a conversation (``policy.Writable``), from the send's
    statement."""

    closed_at: datetime | None
    appointment_id: uuid.UUID | None
    kind: str


async def _sent_first(
    db: AsyncSession,
    scope: CallScope,
    conversation_id: uuid.UUID,
    sender_id: uuid.UUID,
    client_id: uuid.UUID,
) -> Sent:
    """The message first sent with ``client_id``, as it is now: a retry's answer."""
    earlier = await _sent_before(db, conversation_id, sender_id, client_id)
    assert earlier is not None  # found by the send's statement, in a transaction that committed
    await scope.unlock_sealed(db, earlier.body_sealed)
    return Sent(await _with_files(db, message_out(scope, earlier)), created=False)


async def _with_files(db: AsyncSession, out: MessageOut) -> MessageOut:
    """``out`` with its attachments (none once deleted)."""
    if out.state != "deleted":
        out.attachments = (await attachments_of(db, [out.id])).get(out.id, [])
    return out


def _event(out: MessageOut) -> dict[str, Any]:
    data: dict[str, Any] = out.model_dump(mode="json")
    return data


async def _read_up_to(
    db: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID, seq: int
) -> int:
    """Move a member's last read sequence forward (never back); the value it now holds."""
    found = await db.scalar(
        update(ConversationMember)
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.user_id == user_id,
        )
        .values(last_read_seq=func.greatest(ConversationMember.last_read_seq, seq))
        .returning(ConversationMember.last_read_seq)
        .execution_options(synchronize_session=False)
    )
    return int(found or 0)


async def _own_message(
    db: AsyncSession, actor: Actor, conversation_id: uuid.UUID, message_id: uuid.UUID
) -> tuple[Conversation, Message]:
    conversation = await get_conversation(db, actor, conversation_id)
    message: Message | None = await db.scalar(
        select(Message)
        .where(Message.id == message_id, Message.conversation_id == conversation.id)
        .with_for_update()
    )
    if message is None:
        raise NotFound("No such message.", code="message_not_found")
    if message.sender_id != actor.id:
        raise Forbidden("Only its sender can change a message.", code="not_your_message")
    if conversation.closed_at is not None:
        raise _closed()
    return conversation, message


async def edit_message(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    body: MessageEdit,
) -> MessageOut:
    """Its sender changes a message's text within 15 minutes of sending it."""
    conversation, message = await _own_message(db, actor, conversation_id, message_id)
    now = datetime.now(UTC)
    if message.deleted_at is not None:
        raise Conflict("This message was deleted.", code="message_deleted")
    if not policy.editable(actor, message, now):
        minutes = int(policy.EDIT_WINDOW.total_seconds() // 60)
        raise Conflict(
            f"A message can be edited for {minutes} minutes after it was sent.",
            code="edit_window_closed",
            editable_until=(message.created_at + policy.EDIT_WINDOW).isoformat(),
        )
    await scope.unlock(db, conversation.patient_id)
    message.body_sealed = scope.keyring.seal(
        BODY, message, body.text, patient=conversation.patient_id
    )
    message.edited_at = now
    return await _changed(db, scope, actor, message, "edited")


async def delete_message(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
) -> MessageOut:
    """Its sender deletes a message: the text is gone, a tombstone keeps its place."""
    _, message = await _own_message(db, actor, conversation_id, message_id)
    if not policy.deletable(actor, message):
        raise Conflict("This message was deleted already.", code="message_deleted")
    message.body_sealed = None
    message.deleted_at = datetime.now(UTC)
    message.deleted_by = actor.id
    await discard_attachments(db, scope, [message.id])
    return await _changed(db, scope, actor, message, "deleted")


async def _changed(
    db: AsyncSession, scope: CallScope, actor: Actor, message: Message, change: str
) -> MessageOut:
    """A message just edited or deleted: audited (``message.<change>``) and shown live."""
    await db.flush()
    await _audit(db, scope, actor, f"message.{change}", message.conversation_id, message)
    out = await _with_files(db, message_out(scope, message))
    publish_after_commit(db, topic_of(message.conversation_id), f"message.{change}", _event(out))
    return out


# -- read receipts ------------------------------------------------------------------------------


async def mark_read(
    db: AsyncSession, scope: CallScope, actor: Actor, conversation_id: uuid.UUID, seq: int
) -> UnreadOut:
    """A member has read up to ``seq`` (never moves back; at most the last message)."""
    conversation = await get_conversation(db, actor, conversation_id)
    last_read = await _read_up_to(db, conversation.id, actor.id, min(seq, conversation.last_seq))
    data = {"user_id": str(actor.id), "last_read_seq": last_read}
    publish_after_commit(db, topic_of(conversation.id), "read", data)
    total = await total_unread(db, actor.id)
    topic, event, unread = _unread_count(
        actor.id, conversation.id, conversation.last_seq, last_read, total
    )
    publish_after_commit(db, topic, event, unread)
    return UnreadOut(
        conversation_id=conversation.id,
        last_read_seq=last_read,
        unread=unread["unread"],
        total_unread=total,
    )


# -- members and closing ------------------------------------------------------------------------


async def add_member(
    db: AsyncSession, scope: CallScope, actor: Actor, conversation_id: uuid.UUID, body: MemberIn
) -> ConversationOut:
    """A doctor of the conversation, or an administrator, adds a nurse or another doctor."""
    conversation = await get_metadata(db, actor, conversation_id)
    member = await is_member(db, conversation.id, actor.id)
    if not policy.may_add_member(actor, conversation, member):
        if conversation.closed_at is not None:
            raise _closed()
        raise Forbidden("Its doctor or an administrator adds members.", code="wrong_role")
    person = await db.scalar(
        select(User).where(User.id == body.user_id, User.status == UserStatus.active)
    )
    if person is None or person.role not in policy.ADDABLE_ROLES:
        raise Invalid("Add an active nurse or doctor.", code="not_a_clinician")
    if await is_member(db, conversation.id, person.id):
        raise Conflict("This person is a member already.", code="already_member")
    await _add_members(db, conversation.id, [(person.id, MemberRole(person.role))], actor.id)
    await _audit(
        db,
        scope,
        actor,
        "conversation.member_added",
        conversation.id,
        None,
        member_id=str(person.id),
    )
    data = {"user_id": str(person.id), "role": str(person.role)}
    publish_after_commit(db, topic_of(conversation.id), "member.added", data)
    return await read_conversation(db, scope, actor, conversation.id)


async def close(
    db: AsyncSession, scope: CallScope, actor: Actor, conversation_id: uuid.UUID
) -> ConversationOut:
    """A doctor of the conversation closes it: it stays readable, no one writes in it again."""
    conversation = await get_conversation(db, actor, conversation_id)
    if conversation.closed_at is not None:
        raise Conflict("This conversation is closed already.", code="already_closed")
    if not policy.may_close(actor, conversation, member=True):
        raise Forbidden("A doctor of the conversation closes it.", code="wrong_role")
    await _close_now(db, scope, actor, conversation)
    return await read_conversation(db, scope, actor, conversation.id)


async def _close_now(
    db: AsyncSession, scope: CallScope, actor: Actor, conversation: Conversation, **why: str
) -> None:
    """Close ``conversation`` as ``actor`` (``policy.may_close`` checked by the caller): no one
    writes in it again; audited (with ``why``, if given) and shown live."""
    await db.execute(
        select(Conversation.id).where(Conversation.id == conversation.id).with_for_update()
    )
    conversation.closed_at = datetime.now(UTC)
    conversation.closed_by = actor.id
    await db.flush()
    await _audit(db, scope, actor, "conversation.closed", conversation.id, None, **why)
    data = {"closed_at": conversation.closed_at.isoformat(), "closed_by": str(actor.id)}
    publish_after_commit(db, topic_of(conversation.id), "conversation.closed", data)


# -- typing -------------------------------------------------------------------------------------


async def check_typing(db: AsyncSession, actor: Actor, conversation_id: uuid.UUID) -> None:
    """A member may say they are typing in an open conversation (nothing is stored)."""
    conversation = await get_conversation(db, actor, conversation_id)
    if conversation.closed_at is not None:
        raise _closed()
