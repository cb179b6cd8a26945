"""Doctor search: full-text search, filters, presence, and keyset pagination.

Text search runs on ``doctor_profiles.search_vector`` (GIN index; name and specialties weight A,
languages B, bio C; see migration 0010). A query is built from the search's words only (letters
and digits: :func:`~carebridge.directory.schemas.search_terms`), never from the raw text:

* every word but the last must match, stemmed like the vector
  (``plainto_tsquery('english', ...)``, which drops stop words);
* the last word matches as a prefix, for type-ahead: ``'cardio':*``, both unstemmed (``simple``,
  so "a" still finds "Ada") and stemmed (``english``, so a finished "cardiology" finds the
  stored stem "cardiolog").

The rank is ``ts_rank_cd`` normalised into [0, 1), plus 1 when the match is in the name or a
specialty (the A-weighted part of the vector), plus 2 when the whole search *is* a specialty of
the doctor or the doctor's name: "cardiology" lists cardiologists before doctors whose bio
mentions the heart, whatever the bios say.

Pages are keyset-paginated on (sort key, id); the cursor carries the sort it belongs to.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    Uuid,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSON, TSQUERY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from carebridge.accounts.models import User
from carebridge.directory.hooks import LISTING_PRESENCE
from carebridge.directory.models import DoctorProfile, Specialty, doctor_specialties
from carebridge.directory.policy import listed_doctors
from carebridge.directory.schemas import DoctorOut, DoctorPage, DoctorQuery, Sort, SpecialtyRef
from carebridge.platform.errors import Invalid
from carebridge.platform.pagination import cursor_id, decode_cursor_data, encode_cursor_data

# A select of any number of columns (SQLAlchemy 2.1 types each column).
Rows: TypeAlias = Select[*tuple[Any, ...]]

_WEIGHTS: ColumnElement[Any] = literal_column("'{0.1, 0.2, 0.4, 1.0}'::float4[]")
_RANK_NORMALISATION = 32  # rank / (rank + 1): always below 1, so the bonuses decide first
_NO_FEE = 2**31 - 1


@functools.cache
def status() -> ColumnElement[str]:
    """The doctor's presence status in a listing: 'offline' when presence has no row (one
    expression, so every statement reads it the same way)."""
    return func.coalesce(LISTING_PRESENCE.get().status, literal("offline"))


def _plain(text_column: Any) -> ColumnElement[str]:
    """Lower-cased words separated by one space: "Ear, nose and throat" -> "ear nose and throat"."""
    return func.btrim(func.regexp_replace(func.lower(text_column), r"[^[:alnum:]]+", " ", "g"))


def _specialty_of_doctor(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return (
        exists()
        .select_from(
            doctor_specialties.join(Specialty, Specialty.id == doctor_specialties.c.specialty_id)
        )
        .where(doctor_specialties.c.doctor_id == DoctorProfile.user_id, *conditions)
        .correlate(DoctorProfile)
    )


# The doctor's specialties as a JSON array, by name: computed for the rows of the page only
# (PostgreSQL evaluates it after the sort and limit), in the same round trip.
SPECIALTIES_JSON = type_coerce(
    select(
        func.coalesce(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_object("slug", Specialty.slug, "name", Specialty.name),
                    Specialty.name,
                )
            ),
            literal_column("'[]'::json"),
        )
    )
    .select_from(
        doctor_specialties.join(Specialty, Specialty.id == doctor_specialties.c.specialty_id)
    )
    .where(doctor_specialties.c.doctor_id == DoctorProfile.user_id)
    .correlate(DoctorProfile)
    .scalar_subquery(),
    JSON,
)


def doctor_listing() -> Rows:
    """Listed doctors (:func:`~carebridge.directory.policy.listed_doctors`) with their profile,
    specialties and presence (no presence row: offline): the rows :func:`doctor_out` reads."""
    presence = LISTING_PRESENCE.get()
    statement: Rows = (
        listed_doctors()
        .add_columns(
            DoctorProfile.bio,
            DoctorProfile.languages,
            DoctorProfile.years_of_experience,
            DoctorProfile.consultation_fee,
            DoctorProfile.clinic_address,
            DoctorProfile.photo_url,
            DoctorProfile.time_zone,
            DoctorProfile.rating_average,
            DoctorProfile.rating_count,
            status().label("status"),
            presence.last_online_at,
            SPECIALTIES_JSON.label("specialties"),
        )
        .outerjoin(presence.table, presence.doctor_id == DoctorProfile.user_id)
    )
    return statement


def text_query(with_head: bool) -> ColumnElement[Any]:
    """The tsquery: ``:prefix`` is the last word with ``:*``, ``:head`` the words before it
    (letters and digits only, so no tsquery operator can be in them)."""
    prefix = bindparam("prefix", type_=String)
    query: ColumnElement[Any] = func.to_tsquery("simple", prefix).op("||", return_type=TSQUERY)(
        func.to_tsquery("english", prefix)
    )
    if with_head:
        head = func.plainto_tsquery("english", bindparam("head", type_=String))
        query = head.op("&&", return_type=TSQUERY)(query)
    return query


def text_params(terms: Sequence[str]) -> dict[str, str]:
    phrase = " ".join(terms)
    params = {"prefix": f"{terms[-1]}:*", "phrase": phrase, "dr_phrase": f"dr {phrase}"}
    if len(terms) > 1:
        params["head"] = " ".join(terms[:-1])
    return params


def _matches(query: ColumnElement[Any]) -> ColumnElement[bool]:
    return DoctorProfile.search_vector.op("@@", return_type=Boolean)(query)


def relevance(query: ColumnElement[Any]) -> ColumnElement[Any]:
    in_name_or_specialty = func.ts_filter(
        DoctorProfile.search_vector, literal_column("""'{a}'::"char"[]""")
    ).op("@@")(query)
    phrase = bindparam("phrase", type_=String)
    exact = or_(
        _plain(User.name) == phrase,
        _plain(User.name) == bindparam("dr_phrase", type_=String),
        _specialty_of_doctor(
            or_(_plain(Specialty.name) == phrase, func.replace(Specialty.slug, "-", " ") == phrase)
        ),
    )
    return (
        cast(
            func.ts_rank_cd(_WEIGHTS, DoctorProfile.search_vector, query, _RANK_NORMALISATION),
            Float,
        )
        + case((in_name_or_specialty, 1.0), else_=0.0)
        + case((exact, 2.0), else_=0.0)
    )


@dataclass(frozen=True)
class SortKey:
    sort: Sort
    key: ColumnElement[Any]
    descending: bool


def sort_key(sort: Sort, rank: ColumnElement[Any] | None) -> SortKey:
    if sort == "relevance" and rank is not None:
        return SortKey(sort, rank, descending=True)
    if sort == "fee":
        return SortKey(sort, func.coalesce(DoctorProfile.consultation_fee, _NO_FEE), False)
    if sort == "rating":
        rating = cast(func.coalesce(DoctorProfile.rating_average, -1), Float)
        return SortKey(sort, rating, descending=True)
    return SortKey("name", User.name.expression, descending=False)


# -- cursors ----------------------------------------------------------------------------------

_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "relevance": (float, int),
    "rating": (float, int),
    "fee": (int,),
    "name": (str,),
}


_BAD_CURSOR = "The cursor is not valid for this search; start from the first page."


def encode_cursor(sort: Sort, key: Any, row_id: uuid.UUID) -> str:
    return encode_cursor_data({"s": sort, "k": key, "i": str(row_id)})


def decode_cursor(cursor: str, sort: Sort) -> tuple[Any, uuid.UUID]:
    """The (key, id) after which the next page starts; 422 ``bad_cursor`` for anything that
    is not a cursor this search gave out (or belongs to another sort)."""
    data = decode_cursor_data(cursor, _BAD_CURSOR)
    key = data.get("k")
    if data.get("s") != sort or isinstance(key, bool) or not isinstance(key, _KEY_TYPES[sort]):
        raise Invalid(_BAD_CURSOR, code="bad_cursor")
    if isinstance(key, int | float) and sort in ("relevance", "rating"):
        key = float(key)
    return key, cursor_id(data, "i", _BAD_CURSOR)


# -- the search ---------------------------------------------------------------------------------


async def check_specialty(db: AsyncSession, slug: str) -> None:
    if await db.scalar(select(Specialty.id).where(Specialty.slug == slug)) is None:
        raise Invalid(f"No specialty {slug!r}; see /api/v1/specialties.", code="unknown_specialty")


@dataclass(frozen=True)
class Shape:
    """What decides the SQL of a search (values are parameters): one statement per shape is
    built once and reused, so a search builds no SQLAlchemy expression at all."""

    sort: Sort
    text: bool
    head: bool
    specialty: bool
    online: bool | None
    language: bool
    min_rating: bool
    max_fee: bool
    after: bool


@functools.lru_cache(maxsize=1024)
def shaped_statement(shape: Shape) -> tuple[Rows, SortKey]:
    statement = doctor_listing()
    rank = None
    if shape.text:
        query = text_query(shape.head)
        statement = statement.where(_matches(query))
        rank = relevance(query)
    if shape.specialty:
        statement = statement.where(
            _specialty_of_doctor(Specialty.slug == bindparam("specialty", type_=String))
        )
    if shape.online is True:
        statement = statement.where(LISTING_PRESENCE.get().status == "online")
    elif shape.online is False:
        statement = statement.where(status() != "online")
    if shape.language:
        language = bindparam("language", type_=DoctorProfile.languages.type)
        statement = statement.where(DoctorProfile.languages.contains(language))
    if shape.min_rating:
        rating = bindparam("min_rating", type_=DoctorProfile.rating_average.type)
        statement = statement.where(DoctorProfile.rating_average >= rating)
    if shape.max_fee:
        fee = bindparam("max_fee", type_=Integer)
        statement = statement.where(DoctorProfile.consultation_fee <= fee)
    order = sort_key(shape.sort, rank)
    return paginate(statement, order, shape.after), order


def search_statement(query: DoctorQuery) -> tuple[Rows, SortKey, dict[str, Any]]:
    """The statement of one page of ``query`` (limit + 1 rows), its sort and its parameters:
    one query."""
    terms = query.terms
    shape = Shape(
        sort=query.effective_sort,
        text=bool(terms),
        head=len(terms) > 1,
        specialty=query.specialty is not None,
        online=query.online,
        language=query.language is not None,
        min_rating=query.min_rating is not None,
        max_fee=query.max_fee is not None,
        after=query.cursor is not None,
    )
    statement, order = shaped_statement(shape)
    params: dict[str, Any] = {"page_size": query.limit + 1}
    if terms:
        params.update(text_params(terms))
    if query.specialty is not None:
        params["specialty"] = query.specialty
    if query.language is not None:
        params["language"] = [query.language]
    if query.min_rating is not None:
        params["min_rating"] = query.min_rating
    if query.max_fee is not None:
        params["max_fee"] = query.max_fee
    if query.cursor is not None:
        params.update(cursor_params(query.cursor, order.sort))
    return statement, order, params


_KEY_SQL_TYPES: dict[str, type[TypeEngine[Any]]] = {
    "relevance": Float,
    "rating": Float,
    "fee": Integer,
    "name": String,
}


def cursor_params(cursor: str, sort: Sort) -> dict[str, Any]:
    key, row_id = decode_cursor(cursor, sort)
    return {"after_key": key, "after_id": row_id}


def paginate(statement: Rows, order: SortKey, after: bool) -> Rows:
    """Order by (key, id) and take ``:page_size`` rows after ``(:after_key, :after_id)``."""
    statement = statement.add_columns(order.key.label("sort_key"))
    if after:
        position = tuple_(
            bindparam("after_key", type_=_KEY_SQL_TYPES[order.sort]),
            bindparam("after_id", type_=Uuid),
        )
        row = tuple_(order.key, User.id)
        statement = statement.where(row < position if order.descending else row > position)
    if order.descending:
        statement = statement.order_by(order.key.desc(), User.id.desc())
    else:
        statement = statement.order_by(order.key.asc(), User.id.asc())
    return statement.limit(bindparam("page_size", type_=Integer))


async def run_page(
    db: AsyncSession,
    statement: Rows,
    params: dict[str, Any],
    order: SortKey,
    limit: int,
    currency: str,
) -> DoctorPage:
    rows = list((await db.execute(statement, params)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(order.sort, last.sort_key, last.id)
    return DoctorPage(items=[doctor_out(row, currency) for row in rows], next_cursor=next_cursor)


async def search(db: AsyncSession, query: DoctorQuery, currency: str) -> DoctorPage:
    """One page of the search; fees are in ``currency``, the clinic's."""
    statement, order, params = search_statement(query)
    page = await run_page(db, statement, params, order, query.limit, currency)
    if not page.items and query.specialty is not None:
        await check_specialty(db, query.specialty)  # nothing found: say if the slug is wrong
    return page


async def online_now(db: AsyncSession, cursor: str | None, limit: int, currency: str) -> DoctorPage:
    """Verified doctors who are online or busy, by name."""
    statement, order = _online_statement(cursor is not None)
    params: dict[str, Any] = {"page_size": limit + 1}
    if cursor is not None:
        params.update(cursor_params(cursor, order.sort))
    return await run_page(db, statement, params, order, limit, currency)


@functools.lru_cache(maxsize=2)
def _online_statement(after: bool) -> tuple[Rows, SortKey]:
    statement = doctor_listing().where(LISTING_PRESENCE.get().status.in_(("online", "busy")))
    order = sort_key("name", None)
    return paginate(statement, order, after), order


async def specialties_of(
    db: AsyncSession, doctor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SpecialtyRef]]:
    if not doctor_ids:
        return {}
    rows = await db.execute(
        select(doctor_specialties.c.doctor_id, Specialty.slug, Specialty.name)
        .join(Specialty, Specialty.id == doctor_specialties.c.specialty_id)
        .where(doctor_specialties.c.doctor_id.in_(doctor_ids))
        .order_by(Specialty.name)
    )
    found: dict[uuid.UUID, list[SpecialtyRef]] = {}
    for doctor_id, slug, name in rows:
        found.setdefault(doctor_id, []).append(SpecialtyRef(slug=slug, name=name))
    return found


_PROFILE_FIELDS = (
    "bio",
    "years_of_experience",
    "consultation_fee",
    "clinic_address",
    "photo_url",
    "time_zone",
    "rating_count",
)


def profile_fields(source: Any, currency: str) -> dict[str, Any]:
    """What every view of a doctor shows, from a listing row or a ``DoctorProfile``; a fee is
    in ``currency``, the clinic's."""
    fields = {name: getattr(source, name) for name in _PROFILE_FIELDS}
    fields["currency"] = None if source.consultation_fee is None else currency
    rating = source.rating_average
    fields["rating_average"] = None if rating is None else float(rating)
    fields["languages"] = list(source.languages)
    return fields


def doctor_out(row: Any, currency: str) -> DoctorOut:
    """A doctor from a row of :func:`doctor_listing` (one validation call: nested models built
    from dicts by pydantic-core cost a fraction of building each in Python)."""
    return DoctorOut.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "specialties": row.specialties,
            "status": row.status,
            "last_online_at": row.last_online_at,
            **profile_fields(row, currency),
        }
    )
