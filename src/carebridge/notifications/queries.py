"""Hand-written SQL of notifications (see ``platform.statements``).

Every domain writes notifications inside its own transaction, on the session's own asyncpg
connection: reading the recipients and writing the notifications with their deliveries are one
statement each, whatever the number of recipients (arrays unnested by PostgreSQL), instead of
a round trip per row (docs/performance.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from carebridge.platform.statements import Statement

_RECIPIENTS = """
SELECT u.id, u.time_zone, u.phone IS NOT NULL AND u.phone <> '' AS has_phone,
       EXISTS (SELECT 1 FROM push_subscriptions p WHERE p.user_id = u.id) AS has_push,
       q.starts AS quiet_starts, q.ends AS quiet_ends,
       ARRAY(SELECT ROW(np.channel, np.enabled) FROM notification_preferences np
             WHERE np.user_id = u.id AND np.kind = :kind) AS choices
FROM users u
LEFT JOIN notification_quiet_hours q ON q.user_id = u.id
WHERE {match}
"""


class RecipientOf(NamedTuple):
    recipient_id: uuid.UUID
    kind: str


class RecipientsOf(NamedTuple):
    recipient_ids: list[uuid.UUID]
    kind: str


ONE_RECIPIENT = Statement(_RECIPIENTS.format(match="u.id = :recipient_id"), RecipientOf)
"""Everything the delivery plan needs about one recipient for one kind of notification: time
zone, whether a phone and a push subscription exist, quiet hours, and their choices per channel.
Decides nothing itself; uses no rule. Matched by equality, the usual case: PostgreSQL keeps a
generic plan for it, where for ``= ANY(...)`` it planned every run again."""

MANY_RECIPIENTS = Statement(
    _RECIPIENTS.format(match="u.id = ANY(:recipient_ids::uuid[])"), RecipientsOf
)
""":data:`ONE_RECIPIENT` for many recipients at once (a fan-out)."""


class NewNotifications(NamedTuple):
    """Notifications of one kind, title and body to several recipients, with their deliveries
    (each list of a group has one item per notification, or per delivery)."""

    notification_ids: list[uuid.UUID]
    recipient_ids: list[uuid.UUID]
    kind: str
    title: str
    body: str
    data: str  # JSON
    link: str | None
    priority: str
    dedup_key: str | None
    delivery_ids: list[uuid.UUID]
    delivery_notification_ids: list[uuid.UUID]
    channels: list[str]
    statuses: list[str]
    next_attempt_at: list[datetime | None]
    last_errors: list[str | None]
    sent_at: list[datetime | None]


WRITE_NOTIFICATIONS = Statement(
    """
WITH written AS (
    INSERT INTO notifications (id, recipient_id, kind, title, body, data, link, priority,
                               dedup_key)
    SELECT n.id, n.recipient_id, :kind, :title, :body, :data::jsonb, :link, :priority,
           :dedup_key
    FROM unnest(:notification_ids::uuid[], :recipient_ids::uuid[]) AS n(id, recipient_id)
    RETURNING id
)
INSERT INTO notification_deliveries
    (id, notification_id, channel, status, next_attempt_at, last_error, sent_at)
SELECT d.* FROM unnest(:delivery_ids::uuid[], :delivery_notification_ids::uuid[],
                       :channels::text[], :statuses::text[], :next_attempt_at::timestamptz[],
                       :last_errors::text[], :sent_at::timestamptz[])
     AS d(id, notification_id, channel, status, next_attempt_at, last_error, sent_at)
WHERE d.notification_id IN (SELECT id FROM written)
""",
    NewNotifications,
)
"""Writes notifications decided on and their deliveries (planned by ``service.plan``), in one
statement. Decides nothing; uses no rule."""
