"""Passkeys (WebAuthn, verified with the ``webauthn`` package): the ceremonies and the checks.

Every ceremony starts with a challenge from here: 32 random bytes, stored only as their SHA-256
in ``passkey_challenges`` with the ceremony it is for (and the user, when one is known), valid
five minutes. The browser signs it; the response names it inside its ``clientDataJSON``, and the
challenge is taken (deleted) atomically before anything else is checked, so each response is
accepted at most once, even sent twice at the same moment.

- **Registration** needs the password first (``options_to_register`` is called once it was
  proven): a stolen session cannot add a way in that outlives a password change. The passkey
  must be discoverable (so it signs in alone) and verify its user (PIN or biometrics).
- **Sign-in with a passkey alone** (``sign_in_options``, then :func:`verify_use`): no email is
  asked; the authenticator offers the user's passkeys for this site. User verification is
  required, so the passkey is both factors.
- **The second step** after the password offers the user's own passkeys (``second_step_options``).

A response is checked for its challenge, origin (the public URL), relying party (the public URL's
host), signature with the stored public key, and the authenticator's counter: once a passkey
reported a count, each use must report a higher one; one that does not is a copy of the key and is
refused (and audited), whoever holds the original.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from carebridge.accounts.models import Passkey, PasskeyCeremony, PasskeyChallenge, User
from carebridge.config import Settings
from carebridge.platform.errors import Conflict, Invalid, NotFound, Unauthenticated

CHALLENGE_MINUTES = 5
MOST_PER_USER = 10
RP_NAME = "CareBridge"
_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)
# What checking an answer raises when its parts are missing, of the wrong type or malformed (the
# answer comes from the client: any of these is a refusal, never a server error).
_UNREADABLE = (
    WebAuthnException,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    OverflowError,
)


class PasskeyRefused(Unauthenticated):
    """A passkey answer refused: what the refusal used up (the challenge) and recorded (the
    audit row) stays."""

    code = "passkey_refused"
    title = "The passkey was not accepted"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("keep_changes", True)
        super().__init__(detail, **kwargs)


class PasskeysUnavailable(Conflict):
    code = "passkeys_unavailable"
    title = "Passkeys are not available at this address"


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for: the public URL's host, and the origin pages are served from."""

    id: str
    origin: str

    @classmethod
    def of(cls, settings: Settings) -> RelyingParty:
        url = urlsplit(settings.public_base_url)
        host = url.hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return cls(id=host, origin=f"{url.scheme}://{url.netloc}")
        raise PasskeysUnavailable(
            "Passkeys need CareBridge served at a domain name, not an IP address: set "
            "CAREBRIDGE_PUBLIC_BASE_URL to an address such as http://localhost:8000."
        )


def available(settings: Settings) -> bool:
    try:
        RelyingParty.of(settings)
    except PasskeysUnavailable:
        return False
    return True


def _digest(challenge: bytes) -> bytes:
    return hashlib.sha256(challenge).digest()


async def _new_challenge(
    db: AsyncSession, ceremony: PasskeyCeremony, user_id: uuid.UUID | None
) -> bytes:
    challenge = secrets.token_bytes(32)
    db.add(
        PasskeyChallenge(
            challenge_hash=_digest(challenge),
            ceremony=ceremony,
            user_id=user_id,
            expires_at=datetime.now(UTC) + timedelta(minutes=CHALLENGE_MINUTES),
        )
    )
    await db.flush()
    return challenge


def _unreadable(what: str) -> Invalid:
    return Invalid(
        f"The passkey's answer could not be read ({what}); try again.",
        code="invalid_passkey_response",
    )


def _client_challenge(credential: dict[str, Any]) -> bytes:
    """The challenge a response says it signed (checked against ours when it is verified)."""
    response = credential.get("response")
    client_data = response.get("clientDataJSON") if isinstance(response, dict) else None
    if not isinstance(client_data, str):
        raise _unreadable("no clientDataJSON")
    try:
        data = json.loads(base64url_to_bytes(client_data))
        return base64url_to_bytes(data["challenge"])
    except (ValueError, TypeError, KeyError) as exc:
        raise _unreadable("clientDataJSON") from exc


def credential_id_of(credential: dict[str, Any]) -> bytes:
    raw_id = credential.get("rawId", credential.get("id"))
    if not isinstance(raw_id, str) or not raw_id:
        raise _unreadable("no credential id")
    try:
        return base64url_to_bytes(raw_id)
    except (ValueError, TypeError) as exc:
        raise _unreadable("credential id") from exc


async def _take_challenge(
    db: AsyncSession, credential: dict[str, Any], ceremony: PasskeyCeremony
) -> tuple[bytes, uuid.UUID | None]:
    """Our challenge the response signed, used up, with the user it was made for."""
    challenge = _client_challenge(credential)
    taken = (
        await db.execute(
            delete(PasskeyChallenge)
            .where(
                PasskeyChallenge.challenge_hash == _digest(challenge),
                PasskeyChallenge.ceremony == ceremony,
                PasskeyChallenge.expires_at > datetime.now(UTC),
            )
            .returning(PasskeyChallenge.user_id)
        )
    ).one_or_none()
    if taken is None:
        raise PasskeyRefused(
            "This passkey request expired or was already used; try again.",
            code="passkey_challenge_expired",
        )
    user_id: uuid.UUID | None = taken.user_id
    return challenge, user_id


def _options(options: Any) -> dict[str, Any]:
    value = json.loads(options_to_json(options))
    assert isinstance(value, dict)
    return value


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in passkey.transports if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=passkey.credential_id, transports=transports or None)


async def passkeys_of(db: AsyncSession, user_id: uuid.UUID) -> list[Passkey]:
    rows = await db.scalars(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at, Passkey.id)
    )
    return list(rows)


# -- registration --------------------------------------------------------------------------------


async def options_to_register(db: AsyncSession, settings: Settings, user: User) -> dict[str, Any]:
    """The options for ``navigator.credentials.create``, for a user whose password was just
    proven. The user's passkeys are excluded, so an authenticator is not registered twice."""
    rp = RelyingParty.of(settings)
    existing = await passkeys_of(db, user.id)
    if len(existing) >= MOST_PER_USER:
        raise Conflict(
            f"An account can have at most {MOST_PER_USER} passkeys: remove one first.",
            code="too_many_passkeys",
        )
    challenge = await _new_challenge(db, PasskeyCeremony.register, user.id)
    return _options(
        generate_registration_options(
            rp_id=rp.id,
            rp_name=RP_NAME,
            user_id=user.id.bytes,
            user_name=user.email,
            user_display_name=user.name,
            challenge=challenge,
            timeout=CHALLENGE_MINUTES * 60_000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[_descriptor(p) for p in existing],
        )
    )


async def register(
    db: AsyncSession, settings: Settings, user: User, name: str, credential: dict[str, Any]
) -> Passkey:
    """Store the passkey ``credential`` (the browser's answer to the registration options) for
    ``user`` (locked for update). The challenge is used up even when the answer is refused."""
    rp = RelyingParty.of(settings)
    challenge, user_id = await _take_challenge(db, credential, PasskeyCeremony.register)
    if user_id != user.id:
        raise PasskeyRefused("This passkey request was not made for this account.")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except _UNREADABLE as exc:
        raise Invalid(
            f"The passkey could not be added: {exc}", code="invalid_passkey_response"
        ) from exc
    response = credential.get("response")
    transports = response.get("transports") if isinstance(response, dict) else None
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
        transports=[t for t in transports or [] if isinstance(t, str) and t in _TRANSPORTS],
        backed_up=verified.credential_backed_up,
    )
    db.add(passkey)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Conflict(
            "This passkey is already registered.", code="passkey_already_registered"
        ) from exc
    user.passkey_count += 1
    return passkey


# -- use -------------------------------------------------------------------------------------------


async def _request_options(
    db: AsyncSession,
    settings: Settings,
    ceremony: PasskeyCeremony,
    user_id: uuid.UUID | None,
    allowed: list[Passkey],
    verification: UserVerificationRequirement,
) -> dict[str, Any]:
    rp = RelyingParty.of(settings)
    challenge = await _new_challenge(db, ceremony, user_id)
    return _options(
        generate_authentication_options(
            rp_id=rp.id,
            challenge=challenge,
            timeout=CHALLENGE_MINUTES * 60_000,
            allow_credentials=[_descriptor(p) for p in allowed],
            user_verification=verification,
        )
    )


async def sign_in_options(db: AsyncSession, settings: Settings) -> dict[str, Any]:
    """Options for ``navigator.credentials.get`` to sign in with a passkey alone: no account is
    named; the authenticator offers its passkeys for this site and must verify its user."""
    return await _request_options(
        db, settings, PasskeyCeremony.sign_in, None, [], UserVerificationRequirement.REQUIRED
    )


async def second_step_options(
    db: AsyncSession, settings: Settings, user_id: uuid.UUID
) -> dict[str, Any]:
    """Options for the second step of the user whose password was right: their passkeys."""
    passkeys = await passkeys_of(db, user_id)
    if not passkeys:
        raise Conflict(
            "This account has no passkey: use a code instead.", code="no_passkey_registered"
        )
    return await _request_options(
        db,
        settings,
        PasskeyCeremony.second_step,
        user_id,
        passkeys,
        UserVerificationRequirement.PREFERRED,
    )


@dataclass(frozen=True)
class PasskeyUse:
    """A verified use: the passkey (its counter moved on) and whose it is."""

    passkey: Passkey
    user_id: uuid.UUID


class CounterWentBack(PasskeyRefused):
    code = "passkey_counter_regressed"

    def __init__(self, passkey: Passkey) -> None:
        super().__init__(
            "This passkey was refused: its counter went backwards, as a copied passkey's does. "
            "Sign in another way, and remove the passkey if you do not recognise this."
        )
        self.passkey = passkey


async def verify_use(
    db: AsyncSession,
    settings: Settings,
    credential: dict[str, Any],
    ceremony: PasskeyCeremony,
    user_id: uuid.UUID | None = None,
) -> PasskeyUse:
    """Check the browser's answer to sign-in or second-step options: our challenge for
    ``ceremony`` (for the second step, made for ``user_id``), a passkey registered here (and the
    user's, for the second step), its signature, and a counter that moved on. Raises
    :class:`PasskeyRefused` (:class:`CounterWentBack` for a copied key)."""
    rp = RelyingParty.of(settings)
    challenge, made_for = await _take_challenge(db, credential, ceremony)
    if ceremony == PasskeyCeremony.second_step and made_for != user_id:
        raise PasskeyRefused("This passkey request was not made for this sign-in.")
    passkey = await db.scalar(
        select(Passkey)
        .where(Passkey.credential_id == credential_id_of(credential))
        .with_for_update()
    )
    if passkey is None or (user_id is not None and passkey.user_id != user_id):
        raise PasskeyRefused("This passkey is not registered for this account.")
    _check_user_handle(credential, passkey)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,  # the counter is compared below, once it is signed
            require_user_verification=ceremony == PasskeyCeremony.sign_in,
        )
    except _UNREADABLE as exc:
        raise PasskeyRefused(f"The passkey was not accepted: {exc}") from exc
    count = verified.new_sign_count
    if (count > 0 or passkey.sign_count > 0) and count <= passkey.sign_count:
        raise CounterWentBack(passkey)
    passkey.sign_count = count
    passkey.backed_up = verified.credential_backed_up
    passkey.last_used_at = datetime.now(UTC)
    return PasskeyUse(passkey, passkey.user_id)


def _check_user_handle(credential: dict[str, Any], passkey: Passkey) -> None:
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if not handle:
        return
    try:
        same = isinstance(handle, str) and base64url_to_bytes(handle) == passkey.user_id.bytes
    except (ValueError, TypeError):
        same = False
    if not same:
        raise PasskeyRefused("This passkey belongs to another account.")


# -- the list ------------------------------------------------------------------------------------


async def own_passkey(db: AsyncSession, user_id: uuid.UUID, passkey_id: uuid.UUID) -> Passkey:
    passkey = await db.scalar(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user_id)
    )
    if passkey is None:
        raise NotFound("No such passkey.")
    return passkey


async def remove(db: AsyncSession, user: User, passkey: Passkey) -> None:
    """Delete ``passkey`` of ``user`` (locked for update)."""
    await db.execute(delete(Passkey).where(Passkey.id == passkey.id, Passkey.user_id == user.id))
    user.passkey_count = max(0, user.passkey_count - 1)


async def purge_challenges(db: AsyncSession) -> int:
    """Delete challenges that expired unused."""
    result = await db.execute(
        delete(PasskeyChallenge).where(PasskeyChallenge.expires_at < datetime.now(UTC))
    )
    return int(getattr(result, "rowcount", 0) or 0)
