"""Request and response models of the directory API.

Profile inputs forbid unknown fields: verification, ratings, owner and ids are never read from
a client (a body that carries them is refused with 422, so the mistake is visible).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from carebridge.accounts.schemas import check_phone, check_time_zone
from carebridge.directory.codes import LANGUAGES
from carebridge.platform.inputs import Int32, Name
from carebridge.platform.money import check_currency

MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 20
SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
PresenceStatus = Literal["online", "busy", "offline"]
Sex = Literal["female", "male", "intersex", "undisclosed"]
Sort = Literal["relevance", "name", "fee", "rating"]


def check_language(value: str) -> str:
    code = value.strip().lower()
    if code not in LANGUAGES:
        raise ValueError(f"{value!r} is not an ISO 639-1 language code such as 'en' or 'es'")
    return code


def check_languages(values: list[str]) -> list[str]:
    codes = [check_language(v) for v in values]
    return list(dict.fromkeys(codes))  # without duplicates, in the given order


def blank_is_none(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class SpecialtyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name: str
    description: str


class SpecialtyRef(BaseModel):
    slug: str
    name: str


class DoctorOut(BaseModel):
    """A verified doctor as patients see them."""

    id: uuid.UUID
    name: str
    specialties: list[SpecialtyRef]
    bio: str
    languages: list[str] = Field(description="ISO 639-1 codes")
    years_of_experience: int | None
    consultation_fee: int | None = Field(
        description="In minor units of `currency`: 4500 is 45.00 EUR, 4500 JPY is 4500 yen."
    )
    currency: str | None = Field(
        description="ISO 4217: the clinic's one currency (every fee is in it); null without a fee."
    )
    clinic_address: str | None
    photo_url: str | None
    time_zone: str
    rating_average: float | None
    rating_count: int
    status: PresenceStatus = Field(description="Presence now; no presence yet means offline.")
    last_online_at: datetime | None


class DoctorPage(BaseModel):
    items: list[DoctorOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


class DoctorQuery(BaseModel):
    """Filters of the doctor search; every one is optional and they combine (AND)."""

    q: str | None = Field(
        default=None, max_length=200, description="Words to find in name, specialties, languages "
        "and bio; the last word matches as a prefix (type-ahead)."
    )  # fmt: skip
    specialty: str | None = Field(default=None, max_length=64, pattern=SLUG)
    online: bool | None = Field(default=None, description="true: online now; false: not online.")
    language: str | None = Field(default=None, description="ISO 639-1 code the doctor speaks.")
    min_rating: float | None = Field(default=None, ge=0, le=5)
    max_fee: Int32 | None = Field(
        default=None,
        ge=0,
        description="In minor units of the clinic's currency: 5000 is 50.00 EUR.",
    )
    sort: Sort | None = Field(
        default=None, description="Default: `relevance` with `q`, else `name`."
    )
    cursor: str | None = Field(default=None, max_length=512)
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    @field_validator("q", "specialty", "language", "cursor", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return blank_is_none(value)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return None if value is None else check_language(value)

    @property
    def effective_sort(self) -> Sort:
        if self.sort is not None:
            return self.sort
        return "relevance" if self.terms else "name"

    @property
    def terms(self) -> list[str]:
        return search_terms(self.q)

    def cache_key(self) -> str:
        """The same for every query that must give the same answer."""
        normal = self.model_copy(update={"q": " ".join(self.terms) or None, "sort": None})
        return f"{self.effective_sort}|{normal.model_dump_json(exclude_none=True)}"


_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 8
MAX_TERM_LENGTH = 64


def search_terms(text: str | None) -> list[str]:
    """The words of a search, lower-cased: letters and digits only, so that they can be handed
    to PostgreSQL's query parser with no operator in them."""
    if not text:
        return []
    return [w[:MAX_TERM_LENGTH] for w in _WORD.findall(text.lower())][:MAX_TERMS]


class DoctorProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    specialties: list[str] = Field(default_factory=list, max_length=5, description="Slugs")
    bio: str = Field(default="", max_length=4000)
    languages: list[str] = Field(default_factory=list, max_length=12, description="ISO 639-1")
    years_of_experience: int | None = Field(default=None, ge=0, le=80)
    consultation_fee: int | None = Field(
        default=None,
        ge=0,
        le=100_000_000,
        description="In minor units of the clinic's currency: 4500 is 45.00 EUR.",
    )
    currency: str | None = Field(
        default=None,
        json_schema_extra={"deprecated": True},  # in the document only: no runtime warning
        description="Leave it out: every fee is in the clinic's one currency. Accepted for "
        "older clients when it names that currency; any other answers 422 `wrong_currency`.",
    )
    license_number: str | None = Field(default=None, max_length=64)
    clinic_address: str | None = Field(default=None, max_length=500)
    photo_url: str | None = Field(default=None, max_length=2048, description="https:// only")
    time_zone: str = Field(default="UTC", description="IANA, e.g. Europe/Berlin")

    @field_validator("license_number", "clinic_address", "photo_url", "currency", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return blank_is_none(value)

    @field_validator("specialties")
    @classmethod
    def _slugs(cls, values: list[str]) -> list[str]:
        slugs = [v.strip().lower() for v in values]
        if any(not re.fullmatch(SLUG, s) for s in slugs):
            raise ValueError("specialties are slugs such as 'cardiology'")
        return list(dict.fromkeys(slugs))

    @field_validator("languages")
    @classmethod
    def _languages(cls, values: list[str]) -> list[str]:
        return check_languages(values)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else check_currency(value)

    @field_validator("photo_url")
    @classmethod
    def _photo(cls, value: str | None) -> str | None:
        return None if value is None else check_https_url(value)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value)


def check_https_url(value: str) -> str:
    if not re.fullmatch(r"https://[^\s/?#]+\.[^\s/?#]+(/[^\s]*)?", value):
        raise ValueError("must be an https:// URL")
    return value


class DoctorProfileOut(BaseModel):
    """The doctor's own view: what patients see, plus license and verification."""

    id: uuid.UUID
    name: str
    specialties: list[SpecialtyRef]
    bio: str
    languages: list[str]
    years_of_experience: int | None
    consultation_fee: int | None
    currency: str | None
    license_number: str | None
    clinic_address: str | None
    photo_url: str | None
    time_zone: str
    verified_at: datetime | None = Field(description="Set by an administrator's verification.")
    rating_average: float | None
    rating_count: int
    listed: bool = Field(description="Patients find this profile (verified, account active).")


class AdminDoctorOut(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    account_status: str
    registered_at: datetime
    has_profile: bool
    license_number: str | None
    specialties: list[SpecialtyRef]
    verified_at: datetime | None


class AdminDoctorPage(BaseModel):
    items: list[AdminDoctorOut]
    next_cursor: str | None


class NurseProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bio: str = Field(default="", max_length=4000)
    languages: list[str] = Field(default_factory=list, max_length=12)
    years_of_experience: int | None = Field(default=None, ge=0, le=80)
    license_number: str | None = Field(default=None, max_length=64)
    service_area: str | None = Field(
        default=None, max_length=500, description="Where home visits are made."
    )
    time_zone: str = "UTC"

    @field_validator("license_number", "service_area", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return blank_is_none(value)

    @field_validator("languages")
    @classmethod
    def _languages(cls, values: list[str]) -> list[str]:
        return check_languages(values)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value)


class NurseProfileOut(NurseProfileIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    user_id: uuid.UUID


class EmergencyContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: str = Field(description="E.164, e.g. +14155550123")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return check_phone(value)


class PatientProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_of_birth: date | None = None
    sex: Sex | None = None
    phone: str | None = Field(
        default=None, description="E.164; the account's phone number (also on /me)."
    )
    emergency_contact: EmergencyContact | None = None
    address: str | None = Field(default=None, max_length=500)

    @field_validator("phone", "address", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return blank_is_none(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else check_phone(value)

    @field_validator("date_of_birth")
    @classmethod
    def _born(cls, value: date | None) -> date | None:
        if value is not None and not date(1900, 1, 1) <= value <= datetime.now(UTC).date():
            raise ValueError("must be a date between 1900-01-01 and today")
        return value


class PatientProfileOut(PatientProfileIn):
    model_config = ConfigDict(extra="ignore")

    updated_at: datetime | None
