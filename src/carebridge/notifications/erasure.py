"""What erasing a patient does to their notifications (``platform/erasure.py``): every
notification to them, its deliveries, their preferences, quiet hours and push subscriptions."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

_TO_THEM = "recipient_id = :patient"
_OF_THEIRS = "notification_id IN (SELECT id FROM notifications WHERE recipient_id = :patient)"
_SETTINGS = "The patient's settings and devices."

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule(
        "notification_deliveries", "delete", "keep", "Deliveries to the patient.", where=_OF_THEIRS
    ),
    ErasureRule("notifications", "delete", "keep", "Notifications to the patient.", where=_TO_THEM),
    ErasureRule(
        "notification_preferences", "delete", "keep", _SETTINGS, where="user_id = :patient"
    ),
    ErasureRule(
        "notification_quiet_hours", "delete", "keep", _SETTINGS, where="user_id = :patient"
    ),
    ErasureRule("push_subscriptions", "delete", "keep", _SETTINGS, where="user_id = :patient"),
)
