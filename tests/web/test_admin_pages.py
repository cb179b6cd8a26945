"""The admin menu reaches every admin page."""

# ruff: noqa: F811 - tests take imported fixtures as parameters

from __future__ import annotations

import re

import httpx

from carebridge.accounts.models import Role
from tests.factories import MakeUser
from tests.web.test_account_pages import sign_in_browser
from tests.web.test_scheduling_pages import Browser, browser  # noqa: F401 - the fixture

ADMIN_PAGES = {
    "/admin/users": "Users",
    "/admin/doctors": "Verify doctors",
    "/admin/audit": "Audit trail",
    "/admin/deliveries": "Deliveries",
    "/admin/reviews": "Reviews",
}


def menu(page: httpx.Response) -> dict[str, str]:
    nav = re.search(r"<nav>(.*?)</nav>", page.text, re.S)
    assert nav, page.text[:1000]
    return dict(re.findall(r'<a href="(/[^"]*)"[^>]*>([^<]+)</a>', nav.group(1)))


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
