"""A mediation session in real headless Chromium: the mediator leads it from the console.

In a hearing of kind ``mediation`` the server gives the mediator the moderate grant
(docs/MEDIATION.md) and says so in the join ack; the page must take the server's word, or the
mediator would sit in front of a room they cannot run. In a court hearing the same role is a
speaker who waits in the lobby like everyone else.
"""

from __future__ import annotations

import pytest

from tests.browser import Browser, screenshot
from tests.e2e import Api
from tests.signaling_server import ServerProcess
from tests.test_web_room import wait_live

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_mediator_admits_a_party_from_the_console(
    server: ServerProcess, browser: Browser
) -> None:
    api = Api(server)
    h = await api.create_hearing(title="邻里纠纷调解", kind="mediation")
    mediator = await api.token(h["id"], "mediator", "刘调解员")
    page = await browser.page("mediator")
    await page.goto(api.abs(mediator["join_url"]) + "&autojoin=1")
    await page.wait_for_selector("#view-room:not([hidden]) #console-side:not([hidden])")

    party = await api.token(h["id"], "party", "张三")
    party_page = await browser.page("party")
    await party_page.goto(api.abs(party["join_url"]) + "&autojoin=1")
    entry = f'#lobby-list li[data-participant-id="{party["participant_id"]}"]'
    await page.click(f"{entry} .act-admit")
    await wait_live(page, party["participant_id"], "the mediator sees and hears the party")
    await wait_live(party_page, mediator["participant_id"], "the party sees the mediator")
    await screenshot(page, "mediation-console")


async def test_in_a_court_hearing_the_mediator_has_no_console(
    server: ServerProcess, browser: Browser
) -> None:
    api = Api(server)
    h = await api.create_hearing(title="庭审中的调解员")
    mediator = await api.token(h["id"], "mediator", "刘调解员", admitted=True)
    page = await browser.page("mediator in a hearing")
    await page.goto(api.abs(mediator["join_url"]) + "&autojoin=1")
    await page.wait_for_selector("#view-room:not([hidden])")
    assert await page.locator("#console-side").is_hidden()
