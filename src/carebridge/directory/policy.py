"""Which doctors patients may see: the *listed doctor* rule, written once.

A listed doctor is a user whose role is doctor, whose account is active (not waiting for
approval, not disabled) and whose profile an administrator has verified. Patients see listed
doctors only: the directory's search and profile, presence (status, following), slots and
booking; any other id answers 404, exactly as if it did not exist.

The rule is one SQLAlchemy condition, :func:`listed_doctor`. ORM queries start from
:func:`listed_doctors` (or apply the condition to their own join); hand-written statements
include :func:`listed_doctor_sql`, the same condition rendered as text over their aliases.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.directory.models import DoctorProfile
from carebridge.platform.statements import condition_sql


def listed_doctor(
    user: type[User] | AliasedClass[User] = User,
    profile: type[DoctorProfile] | AliasedClass[DoctorProfile] = DoctorProfile,
) -> ColumnElement[bool]:
    """A listed doctor, over a user and their profile (the query joins them)."""
    return and_(
        profile.verified_at.is_not(None),
        user.status == UserStatus.active,
        user.role == Role.doctor,
    )


def listed_doctor_sql(user: str, profile: str) -> str:
    """:func:`listed_doctor` as SQL text, for a statement naming ``users`` as ``user`` and
    ``doctor_profiles`` as ``profile`` (the statement joins them)."""
    return condition_sql(
        listed_doctor(aliased(User, name=user), aliased(DoctorProfile, name=profile))
    )


def listed_doctors() -> Select[uuid.UUID, str]:
    """Listed doctors' ids and names: add the columns and conditions a listing needs."""
    return (
        select(User.id, User.name)
        .select_from(DoctorProfile)
        .join(User, User.id == DoctorProfile.user_id)
        .where(listed_doctor())
    )
