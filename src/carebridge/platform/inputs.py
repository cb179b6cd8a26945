"""What every input must be before a service sees it: the common schema types and the checks
that hold for every route.

- **Strings** never hold a NUL character (PostgreSQL's text cannot store one: it failed there, as a
  500). :func:`refuse_nul` is a dependency of every router (``app.py``): it looks at the path and
  query parameters and at JSON and form bodies, and answers 422 naming the fields.
- **Integers** that reach the database fit its columns: :data:`Int32` (``integer``), or a narrower
  bound of the field's own.
- **Instants** (:data:`Instant`) carry a UTC offset and lie within :data:`EARLIEST` and
  :data:`LATEST`; **dates** (:data:`Day`) likewise. Arithmetic on the edges of Python's range
  (year 1 with +14:00, 9999-12-31 plus a day) overflowed.
- **Wall-clock times** (:data:`WallTime`) carry no offset: they are read in a time zone named
  elsewhere (the doctor's, the user's). Their JSON Schema says ``partial-time`` (RFC 3339's
  time without offset) with a pattern, not ``time``, which JSON Schema defines with an offset.
- **Text that must say something** (a name, a reason, a reply): :data:`Name`, or
  ``Annotated[str, not_blank(n)]``. Surrounding white space is dropped, then at least one
  character must be left: a name of only spaces is refused (422), never saved as a blank that
  shows as nothing. Its JSON Schema says so (``minLength`` 1, ``pattern`` ``\\S``), and
  ``tests/test_malformed_input.py`` fails for a ``name`` field (or any other required text)
  without it.

Cursors are checked when they are decoded (``platform/pagination.py``) by the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from annotated_types import Interval
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, StringConstraints, WithJsonSchema
from starlette.requests import HTTPConnection

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive
NUL = "\x00"
_NUL_MESSAGE = "NUL characters (\\u0000) are not allowed"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def check_instant(value: datetime) -> datetime:
    """``value`` if it has an offset and lies in [EARLIEST, LATEST); else ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give the time zone offset, e.g. 2026-03-29T09:00:00+02:00 or ...Z")
    # Compared without converting: a year-1 time east of UTC has no UTC equivalent in Python.
    if not EARLIEST.date() <= value.date() < LATEST.date() or not EARLIEST <= value < LATEST:
        raise ValueError(f"give a time from {EARLIEST.year} to {LATEST.year - 1}")
    return value


def check_day(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(f"give a date from {EARLIEST.year} to {LATEST.year - 1}")
    return value


def check_wall_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local wall-clock time: give no offset, e.g. 09:00")
    return value


NOT_BLANK = r"\S"  # JSON Schema (unanchored): at least one character that is not white space


def not_blank(max_length: int) -> StringConstraints:
    """The rule of text that must say something, at most ``max_length`` characters once its
    surrounding white space is dropped (the ``pattern`` tells clients; ``min_length`` refuses)."""
    return StringConstraints(
        strip_whitespace=True, min_length=1, max_length=max_length, pattern=NOT_BLANK
    )


Name = Annotated[str, not_blank(200)]  # a person's name; users.name holds 200
Int32 = Annotated[int, Interval(ge=INT32_MIN, le=INT32_MAX)]
Instant = Annotated[datetime, AfterValidator(check_instant)]
Day = Annotated[date, AfterValidator(check_day)]
WALL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$"
WallTime = Annotated[
    time,
    AfterValidator(check_wall_time),
    WithJsonSchema({"type": "string", "format": "partial-time", "pattern": WALL_TIME_PATTERN}),
]


def nul_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The paths in a decoded JSON value whose string (or object key) holds a NUL."""
    if isinstance(value, str):
        if NUL in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield (*path, key)
            yield from nul_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nul_paths(item, (*path, index))


def _nul_error(location: tuple[str | int, ...]) -> dict[str, Any]:
    return {"loc": location, "msg": _NUL_MESSAGE, "type": "string_nul", "input": None}


async def _body_nul_paths(request: Request) -> list[tuple[str | int, ...]]:
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        raw = await request.body()
        if b"\\u0000" not in raw and b"\x00" not in raw:  # the usual case: no decoding
            return []
        try:
            decoded = json.loads(raw)
        except ValueError:
            return []  # not JSON: the route's own parsing answers 422
        return list(nul_paths(decoded))
    if "form" in content_type:
        form = await request.form()
        return [(key,) for key, value in form.multi_items() if isinstance(value, str) and (
            NUL in value or NUL in key
        )]  # fmt: skip
    return []


async def refuse_nul(connection: HTTPConnection) -> None:
    """Refuse a NUL character anywhere in the path, the query or a JSON or form body (422
    ``validation_error``, naming each field)."""
    errors = [
        _nul_error(("path", name))
        for name, value in connection.path_params.items()
        if isinstance(value, str) and NUL in value
    ]
    errors += [
        _nul_error(("query", name))
        for name, value in connection.query_params.multi_items()
        if NUL in value or NUL in name
    ]
    request = connection if isinstance(connection, Request) else None
    if request is not None and request.method in _BODY_METHODS:
        errors += [_nul_error(("body", *path)) for path in await _body_nul_paths(request)]
    if errors:
        raise RequestValidationError(errors)


NO_NUL = Depends(refuse_nul)
