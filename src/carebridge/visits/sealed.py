"""The visit's columns sealed with the keyring: ``<table>:<id>:<field>`` as associated data, so a
ciphertext copied to another row or column does not open. A report's associated data names the
visit (its primary key). The visit's own fields and its transitions are under the patient's
``personal`` data key, the report and the photos' captions under the ``medical`` one; the rows
other than the visit's have no patient column (the code that seals passes it)."""

from __future__ import annotations

from carebridge.platform.crypto import KeyClass, OwnerVia, SealedColumn

_VISIT = OwnerVia("visit_id", "home_visits")


def _sealed(table: str, column: str, key_class: KeyClass, key: str = "id") -> SealedColumn:
    field = column.removesuffix("_sealed")
    return SealedColumn(
        table,
        column,
        lambda row: f"{table}:{row[key]}:{field}".encode(),
        key=(key,),
        key_class=key_class,
        owner="patient_id" if table == "home_visits" else None,
        owner_via=None if table == "home_visits" else _VISIT,
    )


_PERSONAL, _MEDICAL = KeyClass.personal, KeyClass.medical
VISIT_ADDRESS = _sealed("home_visits", "address_sealed", _PERSONAL)
VISIT_ACCESS_NOTES = _sealed("home_visits", "access_notes_sealed", _PERSONAL)
VISIT_REASON = _sealed("home_visits", "reason_sealed", _PERSONAL)
TRANSITION_REASON = _sealed("visit_transitions", "reason_sealed", _PERSONAL)
REPORT_BODY = _sealed("visit_reports", "body_sealed", _MEDICAL, "visit_id")
REPORT_CHANGES = _sealed("visit_reports", "changes_sealed", _MEDICAL, "visit_id")
REPORT_FEEDBACK = _sealed("visit_reports", "feedback_sealed", _MEDICAL, "visit_id")
PHOTO_CAPTION = _sealed("visit_photos", "caption_sealed", _MEDICAL)

SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    VISIT_ADDRESS,
    VISIT_ACCESS_NOTES,
    VISIT_REASON,
    TRANSITION_REASON,
    REPORT_BODY,
    REPORT_CHANGES,
    REPORT_FEEDBACK,
    PHOTO_CAPTION,
)
