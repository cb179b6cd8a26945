"""Hand-written SQL of messaging: the send, its hot path.

A message is sent in two statements on the session's own connection
(``platform.db.driver_connection``), as the booking is (docs/performance.md, "Chat"):

1. :data:`SEND_FACTS` locks the conversation's row (``FOR UPDATE``), only if the sender is a
   member, and reads what the send decides on: whether it is closed, the care history of its
   patient and doctor (the write window) and a message already stored with this client id.
2. :data:`WRITE_MESSAGE` numbers the message (``last_seq + 1``), inserts it sealed, moves the
   sender's read position, writes the audit row, claims the notice of the members who are not
   connected, and answers the other members' unread counts.

The lock makes concurrent sends to one conversation take numbers one after the other. The
second statement runs after the lock was granted, so it sees a retry's first attempt that
committed meanwhile: it then writes nothing (``NOT EXISTS``) and the service answers that first
message. Through the ORM a send took 15 statements.

The rules both statements apply are the ORM conditions of their owners, rendered into the text
(``platform.statements.condition_sql``): membership and the unread total
(``messaging.policy``), the care history (``scheduling.queries.care_history_select``), a
fresh connection and a notice due (``messaging.notices``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import DateTime, Uuid, literal_column
from sqlalchemy.orm import aliased

from carebridge.compliance.service import AUDIT_COLUMNS
from carebridge.messaging.models import ConversationMember
from carebridge.messaging.notices import is_fresh, notice_due
from carebridge.messaging.policy import is_member, unread_total
from carebridge.platform.statements import Statement, condition_sql
from carebridge.scheduling.queries import care_history_select

_AUDIT_COLUMNS = [column for column in AUDIT_COLUMNS if column != "details"]
_SENDER = literal_column(":sender_id", Uuid())
_NOW = literal_column(":now::timestamptz", DateTime(timezone=True))
_C_MEMBER = condition_sql(is_member(_SENDER, literal_column("c.id", Uuid())))
_C_HISTORY = condition_sql(
    care_history_select(
        literal_column("c.patient_id", Uuid()), literal_column("c.doctor_id", Uuid()), _NOW
    )
)
_O_USER = literal_column("o.user_id", Uuid())
_O_UNREAD = condition_sql(unread_total(_O_USER))
_FRESH_SINCE = literal_column(":fresh_since", DateTime(timezone=True))
_O_FRESH = condition_sql(is_fresh(_FRESH_SINCE, _O_USER))
_N = aliased(ConversationMember, name="n")
_N_DUE = condition_sql(notice_due(_NOW, _N))
_N_FRESH = condition_sql(is_fresh(_FRESH_SINCE, literal_column("n.user_id", Uuid())))


class SendQuestion(NamedTuple):
    conversation_id: uuid.UUID
    sender_id: uuid.UUID
    client_id: uuid.UUID
    now: datetime


SEND_FACTS = Statement(
    f"""
SELECT c.closed_at, c.appointment_id, c.kind, c.patient_id, h.last_ends_at,
       h.upcoming > 0 AS upcoming,
       (SELECT e.id FROM messages e
        WHERE e.conversation_id = c.id AND e.sender_id = :sender_id
          AND e.client_id = :client_id) AS earlier_id
FROM conversations c, LATERAL ({_C_HISTORY}) h
WHERE c.id = :conversation_id AND {_C_MEMBER}
FOR UPDATE OF c
""",  # noqa: S608 - built from constants
    SendQuestion,
)
"""One row if the sender is a member (none: 404, as if the conversation did not exist), its
row locked until the commit; ``patient_id``: the audit row's subject, whose data key seals the
message. ``earlier_id``: the message this sender stored with this client id (read in the
statement's snapshot, taken before the lock was granted)."""


class NewMessage(NamedTuple):
    id: uuid.UUID
    conversation_id: uuid.UUID
    sender_id: uuid.UUID
    client_id: uuid.UUID
    body_sealed: bytes
    now: datetime
    fresh_since: datetime  # a connection seen after this counts (``notices.fresh_since``)
    audit: Mapping[str, Any]  # the audit row, ``compliance.service.audit_values`` (no ``seq``)


WRITE_MESSAGE = Statement(
    f"""
WITH numbered AS (
    UPDATE conversations SET last_seq = last_seq + 1, last_message_at = :now
    WHERE id = :conversation_id AND closed_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM messages e
                      WHERE e.conversation_id = :conversation_id AND e.sender_id = :sender_id
                        AND e.client_id = :client_id)
    RETURNING last_seq
), message AS (
    INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, body_sealed,
                          created_at, updated_at)
    SELECT :id, :conversation_id, numbered.last_seq, :sender_id, :client_id, :body_sealed,
           :now, :now
    FROM numbered
), sender AS (
    UPDATE conversation_members m SET last_read_seq = GREATEST(m.last_read_seq, numbered.last_seq)
    FROM numbered
    WHERE m.conversation_id = :conversation_id AND m.user_id = :sender_id
), notified AS (
    UPDATE conversation_members n SET notified_at = :now
    WHERE n.conversation_id = :conversation_id AND n.user_id <> :sender_id AND {_N_DUE}
      AND NOT EXISTS (SELECT 1 FROM messaging_connections WHERE {_N_FRESH})
      AND EXISTS (SELECT 1 FROM numbered)
    RETURNING n.user_id
), audit AS (
    INSERT INTO audit_events ({", ".join(_AUDIT_COLUMNS)}, details)
    SELECT {", ".join(f":audit.{column}" for column in _AUDIT_COLUMNS)},
           :audit.details::jsonb || jsonb_build_object('seq', numbered.last_seq)
    FROM numbered
)
SELECT numbered.last_seq AS seq,
       ARRAY(SELECT ROW(o.user_id, o.last_read_seq, {_O_UNREAD} + 1)
             FROM conversation_members o
             WHERE o.conversation_id = :conversation_id AND o.user_id <> :sender_id
             ORDER BY o.user_id) AS others,
       ARRAY(SELECT user_id FROM notified) AS notified
FROM numbered
""",  # noqa: S608 - built from constants
    NewMessage,
)
"""Writes a message decided on, in one statement; no row when the same client id was stored
meanwhile (or the conversation was closed: it cannot be, its row is locked). ``others``: each
other member's ``(user_id, last_read_seq, total unread)``; the total counts this message
(``+ 1``: the statement's snapshot has the conversation's number before it). ``notified``: the
other members with no fresh connection whose notice was due (``notices.notice_due``), their
``notified_at`` claimed: they are to be told through the outbox."""
