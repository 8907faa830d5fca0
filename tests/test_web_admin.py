"""The court network's admin page, login and kiosk in real headless Chromium: an admin signs in,
creates an officer and registers a site with them; the officer signs in and the API gives them
only their site; a kiosk enrolled from the page heartbeats and the admin page shows it online.
The admin page fits a portrait tablet without scrolling sideways."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest
from playwright.async_api import Page

from signaling.accounts import AccountRole
from signaling.schemas_network import Trade
from signaling.sites import SiteKind
from tests.browser import Browser, eventually, screenshot
from tests.e2e import Api
from tests.network import account, device, site
from tests.sessions_network import mediation_dispute
from tests.signaling_server import ServerProcess

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(180)]


async def sign_in(page: Page, api: Api, username: str, password: str, next_path: str = "") -> None:
    await page.goto(api.abs("/login" + (f"?next={next_path}" if next_path else "")))
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")


async def api_from_page(page: Page, path: str) -> dict:
    """The API as the page's own session sees it (sessionStorage, js/account.js)."""
    return await page.evaluate(
        """async (path) => {
            const token = sessionStorage.getItem("cloudcourt.session");
            const res = await fetch(path, {headers: {Authorization: `Bearer ${token}`}});
            return await res.json();
        }""",
        path,
    )


async def test_admin_registers_a_site_and_its_officer_sees_only_it(
    server: ServerProcess, browser: Browser
) -> None:
    api = Api(server)
    admin = await account(api, "admin", name="系统管理员", login=False)
    other = await site(api, kind="township", name="别处镇云法庭")
    page = await browser.page("admin", viewport={"width": 1366, "height": 768})
    await sign_in(page, api, admin["username"], admin["password"])
    await page.wait_for_url("**/admin")
    await page.wait_for_selector(f'#sites-body tr[data-site-id="{other["id"]}"]')
    assert "系统管理员" in await page.inner_text("#who")

    # People: a new officer.
    await page.click("#tab-people")
    await page.fill("#account-username", "zhang-officer")
    await page.fill("#account-name", "张庭务")
    await page.select_option("#account-role", "officer")
    await page.fill("#account-password", "officer-password-1")
    await page.click("#account-submit")
    officer_row = page.locator("#people-body tr", has_text="zhang-officer")
    await officer_row.wait_for()
    assert "庭务主任" in await officer_row.inner_text()

    # Sites: a village site with that officer.
    await page.click("#tab-sites")
    await page.click("#site-new")
    await page.select_option("#site-kind", "village")
    await page.fill("#site-name", "青山村云法庭")
    await page.fill("#site-county", "青山区")
    await page.fill("#site-township", "青山镇")
    await page.fill("#site-village", "青山村")
    await page.fill("#site-address", "青山村村委会二楼")
    await page.select_option("#site-officer", label="张庭务（zhang-officer）")
    await page.fill("#site-equipment", "摄像头、拾音器")
    await page.fill("#site-grid", "刘网格 13812345678 一组")
    await page.click("#site-submit")
    row = page.locator("#sites-body tr", has_text="青山村云法庭")
    await row.wait_for()
    text = await row.inner_text()
    assert "张庭务" in text and "社区(村)云法庭" in text and "离线" in text, text
    site_id = await row.get_attribute("data-site-id")
    await screenshot(page, "admin-sites")

    # The officer signs in, lands on their own page, and sees their site only.
    officer_page = await browser.page("officer")
    await sign_in(officer_page, api, "zhang-officer", "officer-password-1")
    await officer_page.wait_for_url("**/officer")
    seen = await api_from_page(officer_page, "/api/sites")
    assert [s["id"] for s in seen["sites"]] == [site_id], seen
    assert seen["sites"][0]["grid_members"][0]["phone"] == "138****5678"
    # The same session, from outside the page (a 403 in the page would be a console error).
    session = await officer_page.evaluate("sessionStorage.getItem('cloudcourt.session')")
    status, refused, _ = await api.request("GET", f"/api/sites/{other['id']}", auth=session)
    assert status == 403 and "not one of yours" in refused["error"]


async def test_a_kiosk_enrolled_on_the_page_heartbeats_and_shows_online(
    server: ServerProcess, browser: Browser
) -> None:
    api = Api(server)
    admin = await account(api, "admin", login=False)
    s = await site(api, kind="police", name="青山派出所警法共享平台")
    page = await browser.page("admin")
    await sign_in(page, api, admin["username"], admin["password"])
    row = page.locator(f'#sites-body tr[data-site-id="{s["id"]}"]')
    await row.wait_for()
    assert await row.get_attribute("data-state") == "offline"
    await row.locator("button.devices").click()
    await page.fill("#device-label", "警务室一体机")
    await page.click("#device-enrol")
    await page.wait_for_selector("#device-secret:not([hidden])")
    credential = await page.inner_text("#device-credential")
    link = await page.get_attribute("#device-link", "href")
    assert credential.startswith("ccd_") and link.endswith(f"?credential={credential}")

    kiosk = await browser.page("kiosk", viewport={"width": 1024, "height": 768})
    await kiosk.goto(link)
    await kiosk.wait_for_selector("#kiosk-site:not([hidden])")
    assert await kiosk.inner_text("#site-name") == "青山派出所警法共享平台"
    await eventually(
        lambda: kiosk.get_attribute("#kiosk-state", "data-state"),
        "the kiosk's first heartbeat",
    )
    assert await kiosk.get_attribute("#kiosk-state", "data-state") == "online"
    # The credential left the address bar for localStorage.
    assert "credential" not in kiosk.url
    assert await kiosk.evaluate("localStorage.getItem('cloudcourt.kiosk.credential')") == credential
    assert "摄像头：正常" in await kiosk.inner_text("#camera-state")
    assert await kiosk.is_visible("#today-empty")  # nothing scheduled at this site today
    await screenshot(kiosk, "network-kiosk")

    async def shown_online() -> bool:
        return await row.get_attribute("data-state") == "online"

    await eventually(shown_online, "the admin page's dot turns online", timeout=20)
    device_row = page.locator("#devices-body tr", has_text="警务室一体机")
    assert await device_row.get_attribute("data-state") == "online"
    assert "摄像头正常" in await device_row.inner_text()


async def test_the_admin_page_fits_a_portrait_tablet(server: ServerProcess, browser: Browser):
    api = Api(server)
    admin = await account(api, "admin", login=False)
    await site(api, kind="association", name="物业纠纷人民调解委员会云法庭", trades=["property"])
    page = await browser.page("tablet", viewport={"width": 768, "height": 1024})
    await sign_in(page, api, admin["username"], admin["password"])
    await page.wait_for_selector("#sites-body tr")
    await page.click("#site-new")
    for _ in ("sites", "people"):
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, overflow
        await page.click("#tab-people")
    await screenshot(page, "admin-tablet")


async def test_pages_need_a_session_and_say_so_in_english_too(
    server: ServerProcess, browser: Browser
) -> None:
    api = Api(server)
    page = await browser.page("anonymous")
    await page.goto(api.abs("/admin"))
    await page.wait_for_url("**/login?next=%2Fadmin")
    await page.locator("h1", has_text="登录").wait_for()  # once the texts are in
    await page.click("#lang-switch")
    await page.locator("h1", has_text="Sign in").wait_for()


async def test_every_text_of_the_network_pages_is_in_both_languages() -> None:
    """Each key the pages name (data-i18n*, i18n.t("…") literals, and the keys made from the
    server's names: roles, site kinds, trades) has a text in zh-CN and in English."""
    static = Path(__file__).resolve().parent.parent / "web/static"
    pages = {"login": ["network"], "admin": ["network", "admin"], "kiosk": ["network", "kiosk"]}
    made = {
        *(f"net.role.{r.value}" for r in AccountRole),
        *(f"net.kind.{k.value}" for k in SiteKind),
        *(f"net.trade.{t}" for t in get_args(Trade)),
        "kiosk.kind.mediation",
        "kiosk.kind.hearing",
        *(f"kiosk.state.{s}" for s in ("scheduled", "open", "in_session")),
    }
    for page, tables in pages.items():
        text = (static / f"{page}.html").read_text() + (static / f"js/{page}.js").read_text()
        keys = set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', text))
        keys |= set(re.findall(r'i18n\.t\("([^"]+)"', text))
        assert len(keys) > 5, (page, keys)
        for lang in ("zh-CN", "en"):
            found: dict[str, str] = json.loads((static / f"i18n/{lang}.json").read_text())
            for table in tables:
                found |= json.loads((static / f"i18n/{table}.{lang}.json").read_text())
            prefixes = {"net" if t == "network" else t for t in tables}
            wanted = keys | {k for k in made if k.split(".")[0] in prefixes}
            missing = sorted(k for k in wanted if not found.get(k))
            assert not missing, f"{page} ({lang}) has no text for {missing}"


async def test_the_kiosk_joins_a_session_of_its_site_from_todays_list(
    server: ServerProcess, browser: Browser
) -> None:
    api = Api(server)
    net = await mediation_dispute(api, key="web-kiosk")
    enrolled = await device(api, net["site"]["id"], auth=net["officer"]["session"])
    status, made, _ = await api.request(
        "POST",
        f"/api/disputes/{net['dispute']['id']}/sessions",
        json={"kiosk": True},
        auth=net["officer"]["session"],
    )
    assert status == 201, made
    hid = made["session"]["hearing"]["id"]
    kiosk = await browser.page("kiosk-join", viewport={"width": 1024, "height": 768})
    await kiosk.goto(enrolled["kiosk_url"])
    item = kiosk.locator(f'#today-list li[data-hearing-id="{hid}"]')
    await item.wait_for()
    text = await item.inner_text()
    assert "在线调解" in text and net["dispute"]["number"] in text, text
    assert "张三" not in text  # no party's name on the shared screen
    await screenshot(kiosk, "network-kiosk-today")
    await item.locator("button.join").click()
    await kiosk.wait_for_url(f"**/join/{hid}?token=*")
    await kiosk.wait_for_selector("#view-room:not([hidden]), #view-lobby:not([hidden])")
