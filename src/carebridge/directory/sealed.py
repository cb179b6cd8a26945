"""The directory columns sealed with the keyring (associated data as in patients.py)."""

from __future__ import annotations

from carebridge.platform.crypto import SealedColumn


def _profile_field(field: str) -> SealedColumn:
    return SealedColumn(
        "patient_profiles",
        f"{field}_sealed",
        lambda row: f"patient_profile:{row['user_id']}:{field}".encode(),
        key=("user_id",),
    )


SEALED_COLUMNS: tuple[SealedColumn, ...] = tuple(
    _profile_field(field) for field in ("date_of_birth", "address", "emergency_contact")
)
