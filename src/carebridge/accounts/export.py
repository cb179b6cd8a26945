"""The patient's account in their data export: who they are to CareBridge, their sign-in methods
and devices (names and times only: never a password hash, a TOTP secret or a token)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import AuthSession, KnownDevice, Passkey, User
from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, row_of, rows_of

ACCOUNT_SECRETS = ("password_hash", "totp_secret", "totp_last_step")


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    opener = scope.keyring.open_text
    user = await db.get_one(User, patient_id)
    sessions = await db.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == patient_id)
        .order_by(AuthSession.created_at)
    )
    devices = await db.scalars(select(KnownDevice).where(KnownDevice.user_id == patient_id))
    passkeys = await db.scalars(select(Passkey).where(Passkey.user_id == patient_id))
    return DomainExport(
        {
            "account": row_of(user, opener, omit=ACCOUNT_SECRETS),
            "sessions": rows_of(sessions, opener, omit=("cookie_hash",)),
            "known_devices": rows_of(devices, opener),
            "passkeys": rows_of(passkeys, opener, omit=("credential_id", "public_key")),
        },
        summary=[
            f"{user.name} <{user.email}>, {user.role}, with CareBridge since "
            f"{user.created_at:%Y-%m-%d}"
        ],
    )
