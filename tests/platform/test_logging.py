"""Log lines never carry secrets."""

from __future__ import annotations

from carebridge.platform.logging import REDACTED, redact_secrets


def test_secret_looking_fields_are_redacted() -> None:
    event = redact_secrets(
        None,
        "info",
        {
            "event": "signed_in",
            "password": "hunter2hunter2",
            "refresh_token": "abc",
            "Authorization": "Bearer xyz",
            "ws_ticket": "t-1",
            "user_id": "u-1",
        },
    )
    assert event == {
        "event": "signed_in",
        "password": REDACTED,
        "refresh_token": REDACTED,
        "Authorization": REDACTED,
        "ws_ticket": REDACTED,
        "user_id": "u-1",
    }
