"""Every route declares who may call it."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from carebridge.accounts.actors import AdminActor
from carebridge.platform.access import PUBLIC, declared_callers, endpoints


def test_every_route_declares_its_caller(app: FastAPI) -> None:
    found = dict(endpoints(app.routes))
    assert {"/health/ready", "/metrics", "/", "/api/docs"} <= set(found)
    undeclared = [path for path, dependant in found.items() if not declared_callers(dependant)]
    assert undeclared == []


# Routes anyone may call. Adding one here is a decision: say why in the change.
PUBLIC_ROUTES = {
    "/health/live",
    "/health/ready",
    "/metrics",
    "/",
    "/api/docs",
    "/.well-known/jwks.json",
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/mfa/verify",
    # Passkeys: options to sign in (or for the second step, with the password step's token)
    # and the signed answer; challenges are single-use, throttled per client as sign-in is.
    "/api/v1/auth/passkeys/sign-in-options",
    "/api/v1/auth/passkeys/sign-in",
    "/api/v1/auth/verify-email",
    "/api/v1/auth/verify-email/resend",
    "/api/v1/auth/password/forgot",
    "/api/v1/auth/password/reset",
    # The current consent documents: a sign-up form shows them before there is an account.
    "/api/v1/consent-documents/current",
    "/signup",
    "/signin",
    "/signin/mfa",
    "/signin/mfa/passkey-options",
    "/signin/passkey-options",
    "/signin/passkey",
    "/forgot-password",
    "/reset-password",
    "/verify-email",
    "/api/v1/webhooks/sms/status",  # the SMS provider's callbacks, verified by signature
    "/api/v1/payments/stripe/webhook",  # Stripe's events, verified by signature
    # The directory: patients find doctors before they sign up.
    "/api/v1/specialties",
    "/api/v1/doctors",
    "/api/v1/doctors/online",
    "/api/v1/doctors/{doctor_id}",
    "/doctors",
    "/doctors/results",
    "/doctors/{doctor_id}",
    "/doctors/{doctor_id}/presence",  # a listed doctor's status badge (and follow button)
    "/api/v1/doctors/{doctor_id}/reviews",  # a listed doctor's visible reviews, as on the page
    # A doctor's private calendar feed: calendar apps cannot sign in, the secret token in the
    # URL is the credential (stored hashed, revocable).
    "/api/v1/calendar/{token}.ics",
    # A printed prescription's QR code: pharmacists check it without an account; the page
    # shows validity, issue date and doctor only (no patient, no health data).
    "/verify/{code}",
}


def test_public_routes_are_exactly_the_allowlist(app: FastAPI) -> None:
    from carebridge.platform.access import anonymous
    from carebridge.web.session import web_visitor

    public = {
        path
        for path, dependant in endpoints(app.routes)
        if declared_callers(dependant) & {anonymous, web_visitor}
        and not declared_callers(dependant) - {anonymous, web_visitor}
    }
    assert public == PUBLIC_ROUTES


def test_a_route_without_a_caller_is_detected(app: FastAPI) -> None:
    router = APIRouter(prefix="/api/v1/probe")

    @router.get("/forgotten")
    async def forgotten() -> None:
        return None

    @router.get("/declared", dependencies=[PUBLIC])
    async def declared() -> None:
        return None

    app.include_router(router)
    found = dict(endpoints(app.routes))
    assert declared_callers(found["/api/v1/probe/forgotten"]) == set()
    assert declared_callers(found["/api/v1/probe/declared"]) != set()


def test_caller_declarations_are_coroutines() -> None:
    """A plain ``def`` dependency runs in a worker thread on every request: callers must not."""
    import inspect

    from carebridge.platform.access import CALLER_DEPENDENCIES

    assert CALLER_DEPENDENCIES
    assert all(inspect.iscoroutinefunction(dep) for dep in CALLER_DEPENDENCIES)


def test_openapi_lists_what_each_caller_answers(app: FastAPI) -> None:
    """schemathesis (bench/schemathesis.sh) checks every answered status is documented: a route
    lists the 401 and 403 of the caller it declares without restating them."""
    router = APIRouter(prefix="/api/v1/probe")

    @router.get("/admins-only")
    async def admins_only(actor: AdminActor) -> None:
        return None

    app.include_router(router)
    paths = app.openapi()["paths"]
    signed_in = [
        (method, path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if operation.get("security")
    ]
    assert ("get", "/api/v1/probe/admins-only") in signed_in
    assert [op for op in signed_in if "401" not in paths[op[1]][op[0]]["responses"]] == []
    probe = paths["/api/v1/probe/admins-only"]["get"]["responses"]
    assert "invalid_token" in probe["401"]["description"]
    assert "wrong_role" in probe["403"]["description"]
    # Any signed-in user may call it: no role to be refused.
    assert "403" not in paths["/api/v1/me"]["get"]["responses"]
    # A body that is not JSON is refused (400) before any route runs.
    with_body = [
        (method, path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert ("post", "/api/v1/auth/register") in with_body
    assert [op for op in with_body if "400" not in paths[op[1]][op[0]]["responses"]] == []
