"""Requests and answers of the messaging API. Inputs forbid unknown fields: the sender, the
members' roles, sequence numbers, dates and the closed state are never read from a client."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from carebridge.messaging.attachment_schemas import AttachmentOut
from carebridge.platform.inputs import not_blank

MAX_TEXT = 4000
# Plain text of 1 to 4,000 characters (not only blanks), escaped wherever it is shown.
Text = Annotated[str, not_blank(MAX_TEXT)]


class ConversationIn(BaseModel):
    """Open a care thread: a patient names the doctor, a doctor names the patient (your own id
    in the other field may be sent too)."""

    model_config = ConfigDict(extra="forbid")

    doctor_id: uuid.UUID | None = Field(default=None, description="A patient: the doctor.")
    patient_id: uuid.UUID | None = Field(default=None, description="A doctor: the patient.")


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID = Field(
        description="A UUID your client chooses for this message: sending it again (a retry) "
        "stores nothing new and answers the message stored the first time."
    )
    text: Text


class MessageEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0, le=2_147_483_647, description="The last sequence number you read.")


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID = Field(description="A nurse or another doctor to add.")


class MemberOut(BaseModel):
    user_id: uuid.UUID
    name: str
    role: str
    added_at: datetime
    last_read_seq: int


class SessionOut(BaseModel):
    """The appointment of an appointment's conversation, as the conversation shows it: a `chat`
    appointment is held there (its doctor starts and completes it with the appointment routes,
    `POST /api/v1/appointments/{appointment_id}/start` and `.../complete`)."""

    type: str = Field(description="`chat`, `video` or `in_person`.")
    status: str = Field(
        description="`pending_payment`, `scheduled`, `in_progress`, `completed`, `cancelled` or "
        "`no_show`."
    )
    starts_at: datetime
    ends_at: datetime = Field(description="Its planned end: count the time left down to it.")
    may_start: bool = Field(description="Whether you may start it now.")
    start_possible_from: datetime | None = Field(
        description="When you may start it, if not yet (its doctor, a few minutes before its "
        "time); null otherwise."
    )
    may_complete: bool = Field(description="Whether you may complete it now.")


class ConversationOut(BaseModel):
    """A conversation's metadata: what members and administrators see (never the messages)."""

    id: uuid.UUID
    kind: str = Field(description="`appointment`, `care` or `visit` (a home visit's).")
    appointment_id: uuid.UUID | None
    visit_id: uuid.UUID | None = Field(
        default=None, description="A home visit's conversation: the visit."
    )
    patient_id: uuid.UUID
    doctor_id: uuid.UUID | None = Field(description="Null in a home visit's conversation.")
    members: list[MemberOut]
    message_count: int = Field(description="Messages written (deleted ones included).")
    last_seq: int
    last_message_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
    unread: int | None = Field(description="Your unread messages; null for a non-member admin.")
    may_write: bool = Field(description="Whether you may write now.")
    session: SessionOut | None = Field(
        default=None,
        description="An appointment's conversation: its appointment; null for a care thread.",
    )


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")
    total_unread: int = Field(description="Your unread messages in every conversation.")


class MessageOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    sender_id: uuid.UUID | None
    client_id: uuid.UUID
    text: str | None = Field(description="null when deleted or unreadable (see `state`).")
    state: str = Field(description="`ok`, `deleted` (a tombstone) or `unreadable`.")
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    attachments: list[AttachmentOut] = Field(
        default_factory=list,
        description="Files sent with it (none once it is deleted); see messaging/attachments.",
    )


class MessagePage(BaseModel):
    items: list[MessageOut] = Field(description="In sequence order.")
    more: bool = Field(description="Whether more messages lie beyond this page.")


class UnreadOut(BaseModel):
    conversation_id: uuid.UUID
    last_read_seq: int
    unread: int
    total_unread: int
