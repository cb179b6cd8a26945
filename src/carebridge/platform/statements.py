"""Hand-written SQL, kept where a benchmark showed it pays: statements with named parameters,
and rules written once as SQLAlchemy conditions rendered into their text.

A domain keeps its statements in ``<domain>/queries.py``. Each is a :class:`Statement`: its text
names every parameter (``:doctor_id``, or ``:audit.action`` for a key or attribute of one), and
its parameters come from one typed record, a ``NamedTuple`` whose fields are those names. The
text is turned into asyncpg's ``$1``, ``$2``, ... once, at import, so sending it costs what a
positional call costs; a name the record lacks, or a field no placeholder uses, fails at import.

A rule that an ORM query and a statement both apply (a listed doctor, a live session, held time)
is written once as a condition and included in the statement's text by :func:`condition_sql`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select
from sqlalchemy.dialects.postgresql.base import PGDialect

Record = TypeVar("Record", bound=NamedTuple)

# ``:name`` or ``:name.key``, but not the ``::type`` of a cast.
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*(?:\.\w+)?)")


def condition_sql(condition: ColumnElement[Any] | Select[*tuple[Any, ...]]) -> str:
    """A condition (or an expression, or a query) as PostgreSQL text, values inlined, for a
    hand-written statement. Columns are named as the condition names them: build it over
    ``aliased(Model, name="d")`` to get ``d.``, or over ``literal_column("d.id")``.

    A condition or an expression comes in parentheses, so that the text it is put in cannot
    change what it means (``a OR b`` after an ``AND``); a query as it is (a ``FROM`` item)."""
    dialect = PGDialect()  # type: ignore[no-untyped-call] # SQLAlchemy leaves it untyped
    compiled = str(condition.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    return compiled if isinstance(condition, Select) else f"({compiled})"


def _getter(name: str) -> Callable[[Any], Any]:
    field, _, key = name.partition(".")
    if not key:
        return lambda record: getattr(record, field)

    def nested(record: Any) -> Any:
        value = getattr(record, field)
        if type(value) is dict or isinstance(value, Mapping):  # a dict first: the usual, fast
            return value[key]
        return getattr(value, key)

    return nested


class Statement(Generic[Record]):
    """A statement whose ``:name`` placeholders are the fields of ``params``; :attr:`sql` is the
    text asyncpg runs and :meth:`args` the values of one record, in that text's order."""

    def __init__(self, text: str, params: type[Record]) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        self.sql = _PLACEHOLDER.sub(number, text)
        self.params = params
        fields = set(params._fields)
        unknown = [name for name in names if name.partition(".")[0] not in fields]
        unused = fields - {name.partition(".")[0] for name in names}
        if unknown or unused:
            raise TypeError(
                f"{params.__name__} and the statement disagree: "
                f"placeholders {unknown} are not its fields, fields {sorted(unused)} are unused"
            )
        self.names = tuple(names)
        self._getters = tuple(_getter(name) for name in names)

    def args(self, record: Record) -> tuple[Any, ...]:
        """The values of ``record`` as the statement's positional parameters."""
        return tuple([get(record) for get in self._getters])
