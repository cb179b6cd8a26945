"""Hand-written statements: rules rendered into their text keep their meaning, and a statement's
placeholders are its record's fields."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import asyncpg
import pytest
from sqlalchemy import DateTime, literal_column, or_
from sqlalchemy.orm import aliased

from carebridge.config import Settings
from carebridge.messaging.models import ConversationMember
from carebridge.messaging.notices import notice_due
from carebridge.platform.statements import Statement, condition_sql


def test_a_rendered_condition_keeps_its_meaning_after_an_and() -> None:
    """``a OR b`` put after ``x AND`` must not read as ``(x AND a) OR b``."""
    member = aliased(ConversationMember, name="n")
    rendered = condition_sql(or_(member.notified_at.is_(None), member.last_read_seq > 3))
    assert rendered.startswith("(")
    assert rendered.endswith(")")


async def test_a_rendered_rule_decides_in_sql_as_in_python(settings: Settings) -> None:
    """The notice rule rendered over a placeholder, evaluated by PostgreSQL after an ``AND``
    that is false, is false whatever the rule says (it was true without the parentheses)."""
    member = aliased(ConversationMember, name="n")
    due = condition_sql(
        notice_due(literal_column(":now::timestamptz", DateTime(timezone=True)), member)
    )

    class Question(NamedTuple):
        now: datetime
        notified_at: datetime | None

    statement = Statement(
        f"SELECT false AND {due} FROM (SELECT :notified_at::timestamptz AS notified_at) n",
        Question,
    )
    connection = await asyncpg.connect(settings.libpq_url)
    try:
        now = datetime.now(UTC)
        for notified_at in (None, now - timedelta(hours=1), now):
            answer = await connection.fetchval(
                statement.sql, *statement.args(Question(now, notified_at))
            )
            assert answer is False
    finally:
        await connection.close()


def test_a_statement_and_its_record_must_agree() -> None:
    class Only(NamedTuple):
        user_id: uuid.UUID

    with pytest.raises(TypeError, match="disagree"):
        Statement("SELECT :user_id, :other", Only)
    with pytest.raises(TypeError, match="disagree"):
        Statement("SELECT 1", Only)
    statement = Statement("SELECT :user_id::uuid, :user_id::uuid", Only)
    assert statement.sql == "SELECT $1::uuid, $1::uuid"
