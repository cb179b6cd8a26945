"""A recipient's choices: per kind and channel, and quiet hours."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.notifications.kinds import load_kinds
from carebridge.notifications.models import Channel, Preference, QuietHours
from carebridge.notifications.schemas import KindChoices, Preferences, PreferencesIn, QuietHoursIn
from carebridge.platform.errors import Invalid


async def get_preferences(db: AsyncSession, actor: Actor) -> Preferences:
    rows = await db.scalars(select(Preference).where(Preference.user_id == actor.id))
    chosen = {(p.kind, p.channel): p.enabled for p in rows}
    kinds = []
    for kind in load_kinds().values():
        channels = {}
        for channel in Channel:
            default = channel in kind.defaults
            on = (
                default if kind.mandatory and default else chosen.get((kind.name, channel), default)
            )
            channels[channel.value] = on
        kinds.append(
            KindChoices(
                kind=kind.name, label=kind.label, mandatory=kind.mandatory, channels=channels
            )
        )
    quiet = await db.get(QuietHours, actor.id)
    return Preferences(
        kinds=kinds,
        quiet_hours=QuietHoursIn(starts=quiet.starts, ends=quiet.ends) if quiet else None,
    )


async def set_preferences(db: AsyncSession, actor: Actor, body: PreferencesIn) -> Preferences:
    rows = []
    for kind_name, channels in body.channels.items():
        kind = load_kinds().get(kind_name)
        if kind is None:
            raise Invalid(f"Unknown notification kind {kind_name!r}.", code="unknown_kind")
        for channel_name, enabled in channels.items():
            if channel_name not in Channel.__members__:
                raise Invalid(f"Unknown channel {channel_name!r}.", code="unknown_channel")
            if kind.mandatory and Channel(channel_name) in kind.defaults and not enabled:
                raise Invalid(
                    f"{kind.label}: {channel_name} cannot be turned off.", code="mandatory_channel"
                )
            rows.append(
                {
                    "user_id": actor.id,
                    "kind": kind_name,
                    "channel": channel_name,
                    "enabled": enabled,
                }
            )
    if rows:
        statement = insert(Preference).values(rows)
        await db.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "kind", "channel"],
                set_={"enabled": statement.excluded.enabled},
            )
        )
    await db.execute(delete(QuietHours).where(QuietHours.user_id == actor.id))
    if body.quiet_hours is not None:
        db.add(
            QuietHours(user_id=actor.id, starts=body.quiet_hours.starts, ends=body.quiet_hours.ends)
        )
    await db.flush()
    return await get_preferences(db, actor)
