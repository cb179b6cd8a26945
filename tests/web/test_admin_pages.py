"""The admin menu reaches every admin page; disabling a user asks for confirmation first, and an
administrator cannot disable their own account (the list does not offer it, the service refuses
it)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from carebridge.accounts.models import AuthSession, Role, User
from carebridge.platform.db import Database
from tests.factories import MakeUser
from tests.factories.web import Browser, csrf, sign_in_browser

HTML = {"accept": "text/html"}
ADMIN_PAGES = {
    "/admin/users": "Users",
    "/admin/doctors": "Verify",
    "/admin/audit": "Audit",
    "/admin/consents": "Consents",
    "/admin/security-alerts": "Alerts",
    "/admin/deliveries": "Deliveries",
    "/admin/reviews": "Reviews",
    "/admin/api-keys": "API keys",
}


def menu(page: httpx.Response) -> dict[str, str]:
    nav = re.search(r"<nav[^>]*>(.*?)</nav>", page.text, re.S)
    assert nav, page.text[:1000]
    return dict(re.findall(r'<a href="(/[^"]*)"[^>]*>([^<]+)</a>', nav.group(1)))


def user_row(page: httpx.Response, user: User) -> str:
    """The row of the list whose email cell is ``user``'s."""
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page.text, re.S)
    found = [row for row in rows if f"<td>{user.email}</td>" in row]
    assert len(found) == 1, f"no row of {user.email}"
    return found[0]


async def status_of(database: Database, user: User) -> str:
    async with database.sessionmaker() as db:
        return str(await db.scalar(select(User.status).where(User.id == user.id)))


async def test_the_admin_menu_reaches_every_admin_page(
    client: httpx.AsyncClient, make_user: MakeUser, browser: Browser
) -> None:
    await sign_in_browser(client, (await make_user(Role.admin)).email)
    links = menu(await client.get("/home"))
    assert {url: links.get(url) for url in ADMIN_PAGES} == ADMIN_PAGES
    for url in ADMIN_PAGES:
        assert (await client.get(url)).status_code == 200, url
    patient = await browser(await make_user(Role.patient))
    assert not set(menu(await patient.get("/home"))) & set(ADMIN_PAGES)


async def test_disabling_asks_first_and_never_the_admin_themselves(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database, browser: Browser
) -> None:
    admin = await make_user(Role.admin)
    patient = await make_user(Role.patient, email=f"to-disable-{admin.id.hex[:6]}@example.org")
    their_browser = await browser(patient)
    await sign_in_browser(client, admin.email)
    users = await client.get("/admin/users", params={"q": admin.email})
    assert "Disable" not in user_row(users, admin)  # not offered for oneself
    users = await client.get("/admin/users", params={"q": patient.email})
    assert f'href="/admin/users/{patient.id}/disable"' in user_row(users, patient)

    confirm = await client.get(f"/admin/users/{patient.id}/disable")
    assert confirm.status_code == 200
    assert "Disable this account?" in confirm.text
    assert patient.email in confirm.text
    assert 'name="confirm" value="yes"' in confirm.text
    assert await status_of(database, patient) == "active"  # asking changed nothing

    token = csrf(confirm)
    unconfirmed = await client.post(
        f"/admin/users/{patient.id}/disable", data={"csrf_token": token}
    )
    assert unconfirmed.status_code == 200
    assert "Disable this account?" in unconfirmed.text
    assert await status_of(database, patient) == "active"

    done = await client.post(
        f"/admin/users/{patient.id}/disable", data={"csrf_token": token, "confirm": "yes"}
    )
    assert done.status_code == 303
    after = await client.get(done.headers["location"])
    assert "The account is disabled: it was signed out everywhere." in after.text
    assert await status_of(database, patient) == "disabled"
    signed_out = await their_browser.get("/account")
    assert signed_out.status_code == 303  # their session ended
    assert "enable" in user_row(
        await client.get("/admin/users", params={"q": patient.email}), patient
    )

    own_page = await client.get(f"/admin/users/{admin.id}/disable", headers=HTML)
    assert own_page.status_code == 409
    assert "You cannot disable your own account." in own_page.text
    own = await client.post(
        f"/admin/users/{admin.id}/disable",
        data={"csrf_token": token, "confirm": "yes"},
        headers=HTML,
    )
    assert own.status_code == 409
    assert "You cannot disable your own account." in own.text
    assert await status_of(database, admin) == "active"
    async with database.sessionmaker() as db:
        live = await db.scalar(
            select(AuthSession.id).where(
                AuthSession.user_id == admin.id, AuthSession.revoked_at.is_(None)
            )
        )
    assert live is not None  # still signed in
