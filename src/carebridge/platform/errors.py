"""One exception hierarchy for every expected failure, rendered as RFC 9457 problem+json.

Raise a subclass (or a subclass with a more specific ``code``) from services; the handlers in
:mod:`carebridge.platform.problems` turn it into a response. ``code`` values are stable: clients
branch on them, so never rename one.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CareBridgeError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        keep_changes: bool = False,
        **extra: Any,
    ) -> None:
        self.detail = detail or self.title
        self.error_code = code or self.code
        self.headers = headers or {}
        # The transaction commits before the error is answered: for what a refusal itself must
        # record (failed sign-ins, lockouts, the audit row of a denied action).
        self.keep_changes = keep_changes
        self.extra = extra
        super().__init__(self.detail)


class Invalid(CareBridgeError):
    status = 422
    code = "invalid"
    title = "The request is not valid"


class Unauthenticated(CareBridgeError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(CareBridgeError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(CareBridgeError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(CareBridgeError):
    status = 409
    code = "conflict"
    title = "Conflict with the current state"


class Gone(CareBridgeError):
    status = 410
    code = "gone"
    title = "No longer available"


class TooLarge(CareBridgeError):
    status = 413
    code = "payload_too_large"
    title = "Too large"


class RateLimited(CareBridgeError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **kwargs)


class ServiceUnavailable(CareBridgeError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"
