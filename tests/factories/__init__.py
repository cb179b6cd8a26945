"""What tests in more than one place share, by domain: ``users`` (people, sign-ins, bearer
headers), ``apps`` (the app served in-process, its job queue), ``settings``, ``databases``,
``directory``, ``scheduling``, ``calendar``, ``notifications``, ``payments``, ``prescriptions``,
``reviews``, ``realtime``, ``tokens`` (JWTs taken apart and forged), ``web`` (pages over HTTP),
``ownership`` (the authorization matrix's objects, owners and who may see them) and ``live`` (a
live server and Chromium).

Tests import helpers from these modules; fixtures are never imported: those several folders use
are registered once as plugins by the root conftest (``pytest_plugins``), a folder's own stay in
its conftest. ``tests/test_test_layout.py`` keeps it so. The names below are re-exported for
convenience (they were this package's when it was one module)."""

from tests.factories.apps import jobs, serving, wait_until, work
from tests.factories.users import (
    PASSWORD,
    PASSWORD_HASH,
    Committed,
    Headers,
    MakeUser,
    Person,
    SignedIn,
    SignIn,
    TokenFor,
    committed,
    doctor_and_patients,
    make_user,
    sign_in,
    token_for,
)

_HASH = PASSWORD_HASH  # the name it had

__all__ = [
    "PASSWORD",
    "PASSWORD_HASH",
    "Committed",
    "Headers",
    "MakeUser",
    "Person",
    "SignIn",
    "SignedIn",
    "TokenFor",
    "committed",
    "doctor_and_patients",
    "jobs",
    "make_user",
    "serving",
    "sign_in",
    "token_for",
    "wait_until",
    "work",
]
