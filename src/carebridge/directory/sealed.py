"""The directory columns sealed with the keyring: a patient's date of birth, address and
emergency contact, each bound to the patient and the field (``patient_profile:<id>:<field>``),
under the patient's ``personal`` data key."""

from __future__ import annotations

from carebridge.platform.crypto import KeyClass, SealedColumn


def _profile_field(field: str) -> SealedColumn:
    return SealedColumn(
        "patient_profiles",
        f"{field}_sealed",
        lambda row: f"patient_profile:{row['user_id']}:{field}".encode(),
        key=("user_id",),
        key_class=KeyClass.personal,
        owner="user_id",
    )


DATE_OF_BIRTH = _profile_field("date_of_birth")
ADDRESS = _profile_field("address")
EMERGENCY_CONTACT = _profile_field("emergency_contact")

SEALED_COLUMNS: tuple[SealedColumn, ...] = (DATE_OF_BIRTH, ADDRESS, EMERGENCY_CONTACT)
