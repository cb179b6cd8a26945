"""What erasing a patient does to their account (``platform/erasure.py``): every way in goes
(sessions and their refresh tokens, links, recovery codes, devices, passkeys), and the user row
becomes a tombstone: no email, name or phone, a password that never matches, disabled. The
tombstone's id is what the held medical data still points at; it goes when the hold ends."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

_OWN = "user_id = :patient"
_WAY_IN = "A way into the account."

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule("auth_sessions", "delete", "keep", _WAY_IN, where=_OWN),
    ErasureRule("one_time_tokens", "delete", "keep", _WAY_IN, where=_OWN),
    ErasureRule("recovery_codes", "delete", "keep", _WAY_IN, where=_OWN),
    ErasureRule("known_devices", "delete", "keep", _WAY_IN, where=_OWN),
    ErasureRule("passkeys", "delete", "keep", _WAY_IN, where=_OWN),
    ErasureRule("passkey_challenges", "delete", "keep", _WAY_IN, where=_OWN),
    ErasureRule(
        "users",
        "clear",
        "delete",
        "The tombstone the held medical data points at, without identifiers.",
        where="id = :patient",
        clear={
            "email": "'erased+' || id::text || '@erased.invalid'",
            "name": "'Erased patient'",
            "phone": "NULL",
            "password_hash": "'!erased'",
            "status": "'disabled'",
            "totp_secret": "NULL",
            "mfa_enabled_at": "NULL",
            "totp_last_step": "NULL",
        },
    ),
    ErasureRule(
        "api_keys",
        "keep",
        "keep",
        "Keys made by administrators, not a patient's data.",
        where="FALSE",
    ),
)
