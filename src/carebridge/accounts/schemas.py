"""Request and response models of the accounts API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from carebridge.platform.inputs import Name, not_blank

PASSWORD = Field(min_length=1, max_length=1024)


class AcceptedDocument(BaseModel):
    """A consent document accepted at sign-up: its kind and its current version."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=r"^[a-z_]{1,32}$", examples=["terms_of_service"])
    version: int = Field(ge=1, le=2**31 - 1)


class Registration(BaseModel):
    """Sign-up. Only these fields are read: role ``admin``, status, verification and ids
    cannot be set by a client (unknown fields are refused)."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = PASSWORD
    name: Name
    role: Literal["patient", "doctor", "nurse"] = "patient"
    time_zone: str = "UTC"
    locale: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    consents: list[AcceptedDocument] = Field(
        default_factory=list,
        max_length=8,
        description="The current consent documents accepted (their kinds and versions are "
        "listed by `GET /api/v1/consent-documents/current?role=...`). When documents are "
        "published, every required one for the role must be here (422 `consent_required`).",
    )

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value)


class Credentials(BaseModel):
    email: EmailStr
    password: str = PASSWORD


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=20, max_length=200)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    mfa_enrollment_required: bool = Field(
        default=False,
        description="Staff without a second factor: enrol TOTP before any staff action.",
    )


SecondStepMethod = Literal["totp", "recovery_code", "passkey"]


class MfaChallenge(BaseModel):
    """The password was right; send a second factor to /auth/mfa/verify."""

    mfa_required: Literal[True] = True
    mfa_token: str = Field(description="Valid five minutes, only at /auth/mfa/verify.")
    methods: list[SecondStepMethod] = Field(
        default_factory=list,
        description=(
            "What this account may send as the second step: a passkey (options from "
            "/auth/passkeys/sign-in-options with this token), a TOTP code, a recovery code."
        ),
    )


BASE64URL = r"^[A-Za-z0-9_-]+={0,2}$"


class PasskeyCredential(BaseModel):
    """What the browser's ``navigator.credentials.create()`` or ``.get()`` gave, as its
    ``toJSON()`` writes it (binary values in base64url)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(min_length=1, max_length=1400, pattern=BASE64URL)
    raw_id: str = Field(alias="rawId", min_length=1, max_length=1400, pattern=BASE64URL)
    type: Literal["public-key"]
    response: dict[str, Any]
    authenticator_attachment: str | None = Field(
        default=None, alias="authenticatorAttachment", max_length=40
    )
    client_extension_results: dict[str, Any] = Field(
        default_factory=dict, alias="clientExtensionResults"
    )

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class MfaVerify(BaseModel):
    mfa_token: str = Field(min_length=20, max_length=2000)
    code: str | None = Field(default=None, max_length=12, description="6-digit TOTP code")
    recovery_code: str | None = Field(default=None, max_length=32)
    passkey: PasskeyCredential | None = Field(
        default=None, description="The answer to the second step's passkey options."
    )


PasskeyName = Annotated[str, not_blank(80)]


class PasskeyRegistrationStart(BaseModel):
    """Adding a passkey starts with the password: a stolen session cannot add a way in."""

    password: str = PASSWORD


class PasskeyOptions(BaseModel):
    options: dict[str, Any] = Field(
        description=(
            "The publicKey options for navigator.credentials.create() or .get(), binary values "
            "in base64url (PublicKeyCredential.parseCreationOptionsFromJSON reads them)."
        )
    )


class PasskeyAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PasskeyName = Field(description="What the person calls it, e.g. 'Work laptop'.")
    credential: PasskeyCredential


class PasskeyRename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PasskeyName


class PasskeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool = Field(description="Synced to the person's other devices by their platform.")


class PasskeyAdded(BaseModel):
    passkey: PasskeyOut
    recovery_codes: list[str] | None = Field(
        default=None,
        description="When this passkey turned two-step sign-in on: ten recovery codes, shown once.",
    )


class PasskeySignInStart(BaseModel):
    mfa_token: str | None = Field(
        default=None,
        min_length=20,
        max_length=2000,
        description=(
            "For the second step: the token /auth/login answered (options name the account's "
            "passkeys). Without it: options to sign in with a passkey alone."
        ),
    )


class PasskeySignIn(BaseModel):
    credential: PasskeyCredential


class TotpSetup(BaseModel):
    secret: str = Field(description="Base32 secret for manual entry in an authenticator app.")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as an SVG QR code.")


class TotpCode(BaseModel):
    code: str = Field(min_length=6, max_length=12)


class TotpDisable(BaseModel):
    password: str = PASSWORD
    code: str = Field(min_length=6, max_length=32, description="A TOTP or recovery code")


class RecoveryCodesRenewal(TotpDisable):
    """The password and a current code, to replace the recovery codes."""


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="Shown once: store them somewhere safe.")


class PasswordChange(BaseModel):
    current_password: str = PASSWORD
    new_password: str = PASSWORD


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    role: str
    status: str
    email_verified_at: datetime | None
    approved_at: datetime | None
    phone: str | None
    time_zone: str
    locale: str
    created_at: datetime


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: str | None = Field(default=None, description="E.164, e.g. +14155550123; '' removes it")
    time_zone: str | None = None
    locale: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_time_zone(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return check_phone(value) if value else value


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_agent: str | None
    ip: str | None
    created_at: datetime
    last_used_at: datetime
    current: bool = False


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone such as Europe/Berlin") from exc
    return value


class EmailOnly(BaseModel):
    email: EmailStr


class LinkToken(BaseModel):
    token: str = Field(min_length=20, max_length=200)


class PasswordReset(BaseModel):
    token: str = Field(min_length=20, max_length=200)
    new_password: str = PASSWORD


class EmailChange(BaseModel):
    new_email: EmailStr
    current_password: str = PASSWORD


class Accepted(BaseModel):
    detail: str


def check_phone(value: str) -> str:
    """An international phone number, returned in E.164 (``+14155550123``)."""
    import phonenumbers  # on first use: not needed at start-up (docs/performance.md)

    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("must be an international number starting with +") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
