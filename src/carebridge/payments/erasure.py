"""What erasing a patient does to their payments (``platform/erasure.py``): nothing at once:
accounting law keeps payment records; held, then deleted with the rest."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

_OF_PAYMENT = "payment_id IN (SELECT id FROM payments WHERE patient_id = :patient)"

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule(
        "payment_provider_events",
        "keep",
        "delete",
        "The provider's events of a held payment.",
        where=_OF_PAYMENT,
    ),
    ErasureRule("payments", "keep", "delete", "Accounting records of paid consultations: held."),
)
