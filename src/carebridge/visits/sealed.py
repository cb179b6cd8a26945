"""The visit's columns sealed with the keyring: ``<table>:<id>:<field>`` as associated data, so a
ciphertext copied to another row or column does not open. A report's associated data names the
visit (its primary key)."""

from __future__ import annotations

from carebridge.platform.crypto import SealedColumn


def _sealed(table: str, column: str, key: str = "id") -> SealedColumn:
    field = column.removesuffix("_sealed")
    return SealedColumn(
        table, column, lambda row: f"{table}:{row[key]}:{field}".encode(), key=(key,)
    )


VISIT_ADDRESS = _sealed("home_visits", "address_sealed")
VISIT_ACCESS_NOTES = _sealed("home_visits", "access_notes_sealed")
VISIT_REASON = _sealed("home_visits", "reason_sealed")
TRANSITION_REASON = _sealed("visit_transitions", "reason_sealed")
REPORT_BODY = _sealed("visit_reports", "body_sealed", "visit_id")
REPORT_CHANGES = _sealed("visit_reports", "changes_sealed", "visit_id")
REPORT_FEEDBACK = _sealed("visit_reports", "feedback_sealed", "visit_id")
PHOTO_CAPTION = _sealed("visit_photos", "caption_sealed")

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
