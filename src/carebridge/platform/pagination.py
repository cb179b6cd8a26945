"""Cursor (keyset) pagination: stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.errors import Invalid
from carebridge.platform.inputs import INT32_MAX, INT32_MIN, NUL, check_instant

T = TypeVar("T")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


BAD_CURSOR = "The cursor is not valid; start from the first page."


def encode_cursor_data(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a cursor value")


def _check_value(value: Any) -> None:
    """What a cursor may hold: strings without NUL, integers a column takes, finite floats."""
    if isinstance(value, str):
        if NUL in value:
            raise ValueError("NUL in a cursor")
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        pass  # floats are finite: NaN and Infinity are refused while parsing
    elif isinstance(value, int):
        if not INT32_MIN <= value <= INT32_MAX:
            raise ValueError("integer out of range in a cursor")
    else:
        raise ValueError("a cursor holds scalars only")


def decode_cursor_data(cursor: str, detail: str = BAD_CURSOR) -> dict[str, Any]:
    """The object a cursor carries, its values checked (:func:`_check_value`); 422
    ``bad_cursor`` for anything else. Typed fields are read with :func:`cursor_instant` and
    :func:`cursor_id`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded), parse_constant=_no_constant)
        if not isinstance(data, dict):
            raise ValueError("a cursor is an object")
        for value in data.values():
            _check_value(value)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise Invalid(detail, code="bad_cursor") from exc
    return data


def cursor_instant(data: dict[str, Any], key: str, detail: str = BAD_CURSOR) -> datetime:
    """The time under ``key``, with an offset and within the range every input keeps to."""
    try:
        return check_instant(datetime.fromisoformat(data[key]))
    except (ValueError, KeyError, TypeError) as exc:
        raise Invalid(detail, code="bad_cursor") from exc


def cursor_id(data: dict[str, Any], key: str, detail: str = BAD_CURSOR) -> uuid.UUID:
    try:
        return uuid.UUID(data[key])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Invalid(detail, code="bad_cursor") from exc


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    return encode_cursor_data({"t": created_at.isoformat(), "i": str(row_id)})


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    data = decode_cursor_data(cursor)
    return cursor_instant(data, "t"), cursor_id(data, "i")


async def keyset_page(
    db: AsyncSession,
    statement: Select[Any],
    model: Any,
    *,
    cursor: str | None,
    limit: int,
    time_column: str = "created_at",
) -> Page[Any]:
    """Newest first by (``time_column``, id); ``model`` must have both columns."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    moment = getattr(model, time_column)
    if cursor:
        at, row_id = decode_cursor(cursor)
        statement = statement.where(or_(moment < at, and_(moment == at, model.id < row_id)))
    statement = statement.order_by(moment.desc(), model.id.desc()).limit(limit + 1)
    rows = list((await db.scalars(statement)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(getattr(rows[-1], time_column), rows[-1].id)
    return Page(items=rows, next_cursor=next_cursor)
