"""The checks every input gets before a route sees it (platform/inputs.py), where the generated
malformed-input test (tests/test_malformed_input.py) does not reach: pages and their forms, and
what a NUL check must not refuse."""

from __future__ import annotations

import httpx

from tests.factories import SignIn


async def test_a_nul_in_a_page_query_is_a_4xx_page(client: httpx.AsyncClient) -> None:
    answer = await client.get("/doctors/results", params={"q": "car\x00diology"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("text/html")  # a page, as every page's
    assert "Search: holds a character that cannot be stored (NUL)" in answer.text


async def test_a_nul_in_a_form_field_is_a_4xx_page(client: httpx.AsyncClient) -> None:
    answer = await client.post("/signin", data={"email": "a\x00@b.example", "password": "x"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "Email: holds a character that cannot be stored (NUL)" in answer.text


async def test_json_names_each_field_holding_a_nul(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    me = await sign_in()
    answer = await client.patch(
        "/api/v1/me", json={"name": "Ada\x00", "locale": "e\x00n"}, headers=me.headers
    )
    assert answer.status_code == 422, answer.text
    assert {e["field"] for e in answer.json()["errors"]} == {"body.name", "body.locale"}
    assert {e["type"] for e in answer.json()["errors"]} == {"string_nul"}


async def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    me = await sign_in()
    raw = '{"name": "Ada \\\\u0000 Lovelace"}'  # the JSON text of the name `Ada \u0000 Lovelace`
    answer = await client.patch(
        "/api/v1/me", content=raw, headers={**me.headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "Ada \\u0000 Lovelace"
