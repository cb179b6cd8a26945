"""Browsers of the web pages over HTTP: the CSRF token of a form, signing in with the form, and
other signed-in browsers (cookies of their own) on the app the ``client`` started."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from carebridge.accounts.models import User
from tests.factories.users import PASSWORD

Browser = Callable[[User], Awaitable[httpx.AsyncClient]]


def csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


async def form_token(browser: httpx.AsyncClient) -> str:
    """The form token a page gives this browser now (as its scripts read it: the hidden
    ``csrf_token`` field), from the sign-in page, which every browser may open."""
    return csrf(await browser.get("/signin"))


async def sign_in_browser(
    client: httpx.AsyncClient, email: str, next_url: str = "/account"
) -> httpx.Response:
    form = await client.get("/signin")
    return await client.post(
        "/signin",
        data={"email": email, "password": PASSWORD, "next": next_url, "csrf_token": csrf(form)},
    )


@pytest.fixture
async def browser(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[Browser]:
    """Another signed-in browser (its own cookies) on the app ``client`` already started."""
    opened: list[httpx.AsyncClient] = []

    async def open_as(user: User) -> httpx.AsyncClient:
        other = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
        )
        opened.append(other)
        signed = await sign_in_browser(other, user.email)
        assert signed.status_code == 303, signed.text
        return other

    yield open_as
    for other in opened:
        await other.aclose()


async def accept_pending_consents(browser: httpx.AsyncClient) -> None:
    """Accept on the consent page whatever it asks for (after the demo data published the
    clinic's documents, a person who is not a demo account is asked first)."""
    page = await browser.get("/consents", headers={"accept": "text/html"})
    if page.status_code == 303:
        return  # nothing to accept
    documents = re.findall(r'name="document" value="([^"]+)"', page.text)
    accepted = await browser.post(
        "/consents", data={"document": documents, "csrf_token": csrf(page)}
    )
    assert accepted.status_code == 303, accepted.text[-2000:]
