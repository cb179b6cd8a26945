"""What erasing a patient does to compliance's tables (``platform/erasure.py``): their data
exports go with their files; the record of
what they consented to, when and from where, is the clinic's proof (GDPR Art. 7(1)) and is held
with the medical record; the documents are the clinic's."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule(
        "data_exports",
        "delete",
        "keep",
        "Copies of the patient's data made for them: deleted with their files.",
        files=("storage_key",),
    ),
    ErasureRule(
        "consent_events",
        "keep",
        "delete",
        "Proof of what the patient consented to and when (GDPR Art. 7(1)): held, then deleted.",
        where="user_id = :patient",
    ),
    ErasureRule(
        "security_alerts",
        "keep",
        "keep",
        "Security records about who read what (ids, counts, addresses of attempts; never PHI), "
        "kept like the audit trail they come from.",
        where="FALSE",
    ),
    ErasureRule(
        "consent_documents",
        "keep",
        "keep",
        "The clinic's documents, written by administrators: not a patient's data.",
        where="FALSE",
    ),
)
