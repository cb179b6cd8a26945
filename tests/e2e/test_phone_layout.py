"""Every main page of every role fits a phone: at 390 x 844 no page is wider than the screen,
the header's menu folds behind a button (with JavaScript or without), and the desktop header
still shows the whole menu in one row.

The pages are derived, not listed: for each person, every link of the header and footer, every
link on their home page, and every page route without path parameters that answers them with a
full page. A page added later is walked on arrival."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.routing import iter_route_contexts
from playwright.async_api import Page, expect

from carebridge.accounts.models import User
from carebridge.app import create_app
from tests.e2e.world import DESKTOP, PHONE, Browse, World
from tests.factories.live import LiveServer
from tests.factories.settings import make_settings

_APP = create_app(
    make_settings(Path(tempfile.mkdtemp()), database_url="postgresql://unused@localhost/none")
)
_NOT_PAGES = ("/api/", "/health/", "/static/", "/metrics", "/.well-known/")
_DOWNLOADS = re.compile(r"\.(ics|pdf|json)$")

# The elements wider than the screen, for the failure message (the deepest ones name the cause).
_WIDE = """() => {
  const right = (e) => Math.round(e.getBoundingClientRect().right);
  const wide = [...document.querySelectorAll('body *')].filter((e) => right(e) > innerWidth);
  const leaves = wide.filter((e) => !wide.some((o) => o !== e && e.contains(o)));
  const classes = (e) => typeof e.className === 'string' ? e.className.trim() : '';
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (classes(e) ? '.' + classes(e).split(/\\s+/).join('.') : '');
  return leaves.slice(0, 5).map((e) => `${name(e)} (${right(e)}px)`);
}"""


def page_routes() -> set[str]:
    """Every GET route outside the API whose address has no parameter."""
    paths = set()
    for route in iter_route_contexts(_APP.routes):
        path = str(route.path_format)
        if (
            "GET" in (route.methods or set())
            and "{" not in path
            and not path.startswith(_NOT_PAGES)
        ):
            paths.add(path)
    return paths


async def _links(page: Page, selector: str) -> set[str]:
    hrefs: list[str] = await page.locator(selector).evaluate_all(
        "links => links.map((a) => a.getAttribute('href'))"
    )
    return {h.split("#", 1)[0] for h in hrefs if h and h.startswith("/") and not h.startswith("//")}


async def main_pages(page: Page, server: str, person: User | None) -> list[str]:
    """The addresses this person reaches: header, footer and home links, and every
    parameterless page route that answers them with a whole page (not a fragment, not a
    redirect elsewhere, not a refusal)."""
    await page.goto(server + ("/home" if person else "/"))
    found = await _links(page, "header a[href], footer a[href], main a[href]")
    pages = []
    for path in sorted(found | page_routes()):
        if _DOWNLOADS.search(urlsplit(path).path):
            continue
        response = await page.context.request.get(server + path, max_redirects=0)
        if response.status == 200 and "<header" in await response.text():
            pages.append(path)
    return pages


async def _overflow(page: Page) -> str | None:
    sizes = await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if sizes[0] <= sizes[1]:
        return None
    return f"{sizes[0]}px wide in {sizes[1]}px: {await page.evaluate(_WIDE)}"


async def test_every_main_page_of_every_role_fits_a_phone(
    browse: Browse, live_server: LiveServer, world: World, artifacts: Path
) -> None:
    """Each person's walk is in a browser context of its own, one page after the other; the
    people walk at the same time (most of a page's time is the 500 ms of network silence that
    ``networkidle`` waits for, which the walks share instead of adding up)."""
    people: dict[str, User | None] = {"visitor": None, **world.people}
    wide: dict[str, str] = {}
    walked: dict[str, list[str]] = {}
    shots = artifacts / "phone"
    shots.mkdir(exist_ok=True)

    async def walk(name: str, person: User | None) -> None:
        async with browse(person, PHONE) as page:
            walked[name] = await main_pages(page, live_server, person)
            for path in walked[name]:
                response = await page.goto(live_server + path)
                assert response is not None
                assert response.status == 200, (name, path)
                await page.wait_for_load_state("networkidle")
                problem = await _overflow(page)
                if problem:
                    wide[f"{name} {path}"] = problem
                slug = path.strip("/").replace("/", "-") or "landing"
                await page.screenshot(path=str(shots / f"{name}-{slug}.png"), full_page=True)

    async with asyncio.TaskGroup() as walks:
        for name, person in people.items():
            walks.create_task(walk(name, person))
    # The walk really covered each role's own pages.
    assert "/doctor/appointments" in walked["doctor"]
    assert {"/appointments", "/prescriptions"} <= set(walked["patient"])
    assert {"/admin/users", "/admin/doctors"} <= set(walked["admin"])
    assert {"/", "/doctors", "/signin"} <= set(walked["visitor"])
    assert all("/home" in pages for name, pages in walked.items() if name != "visitor")
    assert not wide, "wider than a phone:\n" + "\n".join(f"{k}: {v}" for k, v in wide.items())


async def test_the_phone_menu_folds_behind_a_button(
    browse: Browse, live_server: LiveServer, world: World, artifacts: Path
) -> None:
    async with browse(world.patient, PHONE) as page:
        await page.goto(live_server + "/home")
        button = page.locator("#menu-button")
        menu = page.locator("#site-menu")
        await expect(button).to_be_visible()
        await expect(button).to_have_attribute("aria-expanded", "false")
        await expect(menu).to_be_hidden()
        await expect(page.locator("#bell")).to_be_visible()  # the bell stays in sight
        brand = await page.locator(".brand").bounding_box()
        toggle = await button.bounding_box()
        assert brand
        assert toggle
        assert brand["x"] + brand["width"] <= toggle["x"], "the logo overlaps the menu button"
        await page.screenshot(path=str(artifacts / "phone-menu-closed.png"))

        await button.click()
        await expect(button).to_have_attribute("aria-expanded", "true")
        await expect(menu).to_be_visible()
        await page.screenshot(path=str(artifacts / "phone-menu-open.png"), full_page=True)
        await page.keyboard.press("Escape")
        await expect(menu).to_be_hidden()
        await expect(button).to_be_focused()

        await button.click()
        await menu.get_by_role("link", name="Appointments").click()
        await expect(page.locator("h1")).to_have_text("Your appointments")
        assert await _overflow(page) is None


async def test_the_phone_menu_works_without_javascript(
    browse: Browse, live_server: LiveServer, world: World, artifacts: Path
) -> None:
    async with browse(world.doctor, PHONE, javascript=False) as page:
        await page.goto(live_server + "/home")
        menu = page.locator("#site-menu")
        await expect(menu).to_be_hidden()
        await page.locator("label[for=menu-toggle]").click()
        await expect(menu).to_be_visible()
        await page.screenshot(path=str(artifacts / "phone-menu-no-js.png"), full_page=True)
        await menu.get_by_role("link", name="Calendar").click()
        await expect(page).to_have_url(re.compile(r"/doctor/appointments"))
        assert await _overflow(page) is None


async def test_the_desktop_header_shows_the_whole_menu_in_one_row(
    browse: Browse, live_server: LiveServer, world: World, artifacts: Path
) -> None:
    for name, person in {"visitor": None, **world.people}.items():
        async with browse(person, DESKTOP) as page:
            await page.goto(live_server + ("/home" if person else "/"))
            await expect(page.locator("#menu-button")).to_be_hidden()
            links = page.locator("#site-menu a, #site-menu button")
            assert await links.count() > 0
            tops = set()
            for i in range(await links.count()):
                await expect(links.nth(i)).to_be_visible()
                box = await links.nth(i).bounding_box()
                assert box
                tops.add(round(box["y"] + box["height"] / 2))
            assert max(tops) - min(tops) <= 4, f"{name}: the menu wraps onto a second row"
            assert await _overflow(page) is None, name
            await page.screenshot(path=str(artifacts / f"desktop-{name}-home.png"))
