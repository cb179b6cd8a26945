from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Browser, ConsoleMessage, Error, Route

from tests.promises import PROMISES, registered_domains, unbuilt_promises


async def test_landing_page_renders_without_console_errors(
    browser: Browser, live_server: str, artifacts: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    def on_page_error(error: Error) -> None:
        problems.append(str(error))

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    response = await page.goto(live_server + "/")
    assert response is not None
    assert response.status == 200
    await page.wait_for_load_state("networkidle")
    assert "CareBridge" in await page.title()
    heading = page.locator("h1")
    assert await heading.is_visible()
    assert "doctor" in (await heading.inner_text()).lower()
    assert await page.locator("#signin-link").get_attribute("href") == "/signin"
    # Pico CSS and our stylesheet are applied (the brand colour on the primary button).
    colour = await page.locator("#signin-link").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert colour == "rgb(15, 118, 110)"
    assert await page.evaluate("typeof window.htmx") == "object"
    screenshot = artifacts / "landing.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    assert problems == []
    await page.close()


async def test_the_landing_page_promises_only_what_is_built(
    browser: Browser, live_server: str
) -> None:
    """What a visitor reads (and what a search engine shows) names no feature of a domain that
    is not registered yet: no chat, video calls, home visits, health records or FHIR today."""
    assert set(PROMISES) - registered_domains(), "every domain is built: drop this test"
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(live_server + "/")
    read = await page.locator("body").inner_text()
    shown = await page.locator("meta[name=description]").get_attribute("content")
    assert unbuilt_promises(" ".join([await page.title(), shown or "", read])) == {}
    # What it does say is what works: the directory, presence, booking and prescriptions.
    for words in ("online right now", "book an appointment", "prescription"):
        assert words in read
    await page.close()


async def test_api_docs_render_with_no_network(
    browser: Browser, live_server: str, artifacts: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    local_host = urlsplit(live_server).netloc
    outside: list[str] = []

    async def only_local(route: Route) -> None:
        if urlsplit(route.request.url).netloc == local_host:
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_local)
    await page.goto(live_server + "/api/docs")
    title = page.locator(".swagger-ui .info .title")
    await title.wait_for(timeout=15_000)
    assert "CareBridge API" in await title.inner_text()
    await page.locator(".opblock-tag", has_text="operations").first.wait_for()
    await page.screenshot(path=str(artifacts / "api-docs.png"))
    assert outside == []
    await page.close()
