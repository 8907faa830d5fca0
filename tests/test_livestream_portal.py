"""The public portal in headless Chromium: the catalog shows the live hearing, hls.js plays the live
stream (its clock advances), and after the hearing ends the on-demand stream plays to its end."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import Browser, eventually, screenshot
from tests.e2e import Api, Cast
from tests.e2e import eventually as wait_for
from tests.signaling_server import ServerProcess, start_server

# Alone, after the parallel run (scripts/test): it encodes in real time or measures CPU.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.serial]

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("portal"), env={"CLOUDCOURT_BROADCAST_DELAY": "1"})
    yield srv
    srv.stop()


async def test_the_portal_lists_and_plays_live_then_on_demand(
    server: ServerProcess, browser: Browser
) -> None:
    api, cast = Api(server), Cast(server)
    try:
        hearing, judge = await cast.on_air(
            21, title="公开庭审播放测试", court="北京市海淀区人民法院"
        )
        hid = hearing["id"]

        async def on_air() -> Any:
            _, body, _ = await api.request("GET", "/api/catalog?status=live", auth=None)
            return hid in [i["id"] for i in body["items"]]

        await wait_for(on_air, 20, "the hearing listed as live")

        portal = await browser.page("portal", viewport=PHONE, media=False)
        await portal.goto(f"{server.url}/")  # / leads to the portal
        card = portal.locator(f'#live li[data-id="{hid}"]')
        await card.wait_for(timeout=15000)
        assert "公开庭审播放测试" in await card.inner_text()
        assert await portal.locator("h2").first.inner_text() == "正在直播"
        await portal.click("#lang")

        async def heading_in_english() -> Any:
            return await portal.locator("h2").first.inner_text() == "Live now"

        await eventually(heading_in_english, "English headings", timeout=5)
        await portal.click("#lang")  # back to Chinese for the player
        await card.locator("a").click()
        await portal.wait_for_url("**/portal/player.html?*")

        async def advancing() -> Any:
            return await portal.evaluate(
                "() => { const v = document.getElementById('video');"
                " return v.currentTime > 2 && !v.paused && v.readyState >= 3 }"
            )

        await eventually(advancing, "hls.js playing the live stream", timeout=30)
        assert await portal.evaluate("() => window.playerEngine") == "hls.js"
        before = await portal.evaluate("() => document.getElementById('video').currentTime")
        await eventually(
            lambda: portal.evaluate(
                f"() => document.getElementById('video').currentTime > {before + 1}"
            ),
            "the live stream to keep playing",
            timeout=15,
        )
        await screenshot(portal, "portal-live-player")

        await judge.end_hearing()

        async def on_demand() -> Any:
            _, body, _ = await api.request("GET", "/api/catalog?status=vod", auth=None)
            return next((i for i in body["items"] if i["id"] == hid), None)

        item = await eventually(on_demand, "the on-demand entry", timeout=20)
        vod = await browser.page("vod", viewport=PHONE, media=False)
        await vod.goto(f"{server.url}/portal/player.html?id={hid}&kind=vod")
        await eventually(
            lambda: vod.evaluate("() => document.getElementById('video').readyState >= 2"),
            "the on-demand stream to load",
            timeout=20,
        )
        await vod.evaluate("() => { document.getElementById('video').playbackRate = 4 }")
        await eventually(
            lambda: vod.evaluate("() => document.getElementById('video').ended"),
            "the on-demand stream to play to its end",
            timeout=30,
        )
        played = await vod.evaluate("() => document.getElementById('video').currentTime")
        assert abs(played - item["duration"]) < 1.5, (played, item["duration"])
        # The date follows the language switch; the tab names the hearing, in Chinese without
        # the English product name.
        date = vod.locator("#meta span").nth(2)
        assert "年" in await date.inner_text()
        assert await vod.title() == "公开庭审播放测试 · 庭审公开"
        await vod.click("#lang")

        async def english_date() -> Any:
            text = await date.inner_text()
            return text if re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, .*[AP]M", text) else None

        await eventually(english_date, "the date in English", timeout=5)
        assert await vod.title() == "公开庭审播放测试 · Cloud Court"
        browser.assert_no_errors()
    finally:
        await cast.close()


async def test_a_hearing_in_session_but_not_streamed_is_said_to_be_in_session(
    server: ServerProcess, browser: Browser
) -> None:
    api, cast = Api(server), Cast(server)
    try:
        begun = await api.create_hearing(
            public=True, title="已开庭未直播", court="北京市海淀区人民法院"
        )
        to_come = await api.create_hearing(
            public=True, title="尚未开庭", court="北京市海淀区人民法院"
        )
        await cast.join(begun, "judge", 22)

        async def in_session() -> Any:
            _, body, _ = await api.request("GET", "/api/catalog?status=upcoming", auth=None)
            return any(i["id"] == begun["id"] and i["started_at"] for i in body["items"])

        await wait_for(in_session, 15, "the judge's hearing in session")

        portal = await browser.page("portal-in-session", viewport=PHONE, media=False)
        await portal.goto(f"{server.url}/portal/")
        card = portal.locator(f'#upcoming li[data-id="{begun["id"]}"]')
        later = portal.locator(f'#upcoming li[data-id="{to_come["id"]}"]')
        await card.wait_for(timeout=15000)
        await later.wait_for(timeout=15000)
        assert await card.locator(".badge").inner_text() == "正在开庭（未直播）"
        assert await card.locator("a").count() == 0  # nothing to play
        assert await later.locator(".badge").count() == 0
        assert await portal.title() == "庭审公开"
        await portal.click("#lang")

        async def badge_in_english() -> Any:
            return await card.locator(".badge").inner_text() == "In session (not streamed)"

        await eventually(badge_in_english, "the English badge", timeout=5)
        assert await portal.title() == "Public hearings · Cloud Court"
        await screenshot(portal, "portal-in-session")
        browser.assert_no_errors()
    finally:
        await cast.close()
