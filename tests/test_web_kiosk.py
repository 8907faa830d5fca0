"""The site kiosk and the device check's report, in real headless Chromium.

The kiosk (role ``site``) opens its join_url with ``autojoin=1``: no click, straight into the
room with a pre-admitted token, large layout. The device check runs in a second Chromium started
without the fake capture devices: a headless machine then has no camera and no microphone at
all, which is what a site machine with an unplugged camera looks like to the page.
"""

from __future__ import annotations

import pytest

from tests.browser import NO_DEVICE_ARGS, Browser, launch, screenshot
from tests.e2e import Api
from tests.signaling_server import ServerProcess
from tests.test_web_room import wait_live

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_kiosk_autojoins_pre_admitted_and_is_large(
    server: ServerProcess, browser: Browser
) -> None:
    api = Api(server)
    h = await api.create_hearing(title="村镇法庭巡回审理")
    judge = await api.token(h["id"], "judge", "赵法官")
    site = await api.token(h["id"], "site", "青山镇人民法庭", admitted=True)
    judge_page = await browser.page("judge")
    await judge_page.goto(api.abs(judge["join_url"]) + "&autojoin=1")
    kiosk = await browser.page("kiosk", viewport={"width": 1024, "height": 640})
    await kiosk.goto(api.abs(site["join_url"]) + "&autojoin=1")
    # No click anywhere: the device check ran, reported, and the kiosk went straight in.
    await kiosk.wait_for_selector("#view-room:not([hidden])")
    assert await kiosk.evaluate("window.cc.devices") == {"camera": "ok", "microphone": "ok"}
    assert await kiosk.evaluate("document.body.classList.contains('kiosk')")
    assert await kiosk.is_hidden("#btn-end")  # no moderation on a kiosk
    await wait_live(kiosk, judge["participant_id"], "the kiosk sees and hears the judge")
    await wait_live(judge_page, site["participant_id"], "the judge sees and hears the site")
    assert (
        await kiosk.get_attribute("#stage .tile", "data-participant-id") == judge["participant_id"]
    )
    await screenshot(kiosk, "kiosk")


async def test_device_check_reports_missing_camera(server: ServerProcess) -> None:
    api = Api(server)
    h = await api.create_hearing()
    party = await api.token(h["id"], "party", "王五")
    async with launch(NO_DEVICE_ARGS) as bare:
        page = await bare.page("no devices")
        await page.goto(api.abs(party["join_url"]))
        camera = page.locator('#device-report li[data-device="camera"]')
        assert await camera.get_attribute("data-status") == "missing"
        text = await camera.inner_text()
        assert "摄像头" in text and "未检测到设备" in text, text
        await screenshot(page, "device-check-missing-camera")
        # The advice is in English too, from the same table.
        await page.click("#lang-switch")
        # A locator, not wait_for_function: the page's CSP forbids the eval its polling uses.
        await page.locator(
            '#device-report li[data-device="camera"]', has_text="No device found"
        ).wait_for()
        bare.assert_no_errors()
