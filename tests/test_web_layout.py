"""Every page fits the screens courts and sites have, in real headless Chromium (issue 12).

At 1366×768 and 1366×800 (most village sites and police desks), 1920×1080 and a 10-inch tablet
both ways (1280×800, 800×1280), every control a page shows — button, link, field, the video's own
controls — lies inside the viewport and inside every scrolling box around it: nobody has to
scroll to reach one; and no name (a person's, a court's) breaks over two lines. The pages are
the device check, the lobby, the participant room, the judge console (with a raised hand, a
party's tile menu open), the site kiosk, the portal and the player.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page

from tests.browser import Browser, eventually, screenshot
from tests.e2e import Api, Cast
from tests.signaling_server import ServerProcess, start_server
from tests.test_web_room import open_tile_menu

pytestmark = pytest.mark.asyncio(loop_scope="module")

SIZES = [(1366, 768), (1366, 800), (1920, 1080), (1280, 800), (800, 1280)]

# Each shown control that cannot be reached without scrolling: the viewport and every scrolling
# (or clipping) box around it must hold all of it. Hidden ones (no box) are not shown.
OUT_OF_REACH_JS = """
() => {
  const W = innerWidth, H = innerHeight;
  const within = (r, b) => r.left >= b.left - 0.5 && r.top >= b.top - 0.5
    && r.right <= b.right + 0.5 && r.bottom <= b.bottom + 0.5;
  const what = (el) => (el.id ? '#' + el.id : el.tagName.toLowerCase() + '.' + el.className)
    + ' "' + (el.innerText || el.value || el.placeholder || '').trim().slice(0, 30) + '"';
  const out = [];
  const controls = document.querySelectorAll(
    'button, a[href], input, select, textarea, video[controls], [role=menuitem]');
  for (const el of controls) {
    const r = el.getBoundingClientRect();
    if (!el.checkVisibility() || r.width === 0 || r.height === 0) continue;
    if (!within(r, {left: 0, top: 0, right: W, bottom: H})) {
      out.push(`${what(el)} at ${Math.round(r.left)},${Math.round(r.top)}-`
        + `${Math.round(r.right)},${Math.round(r.bottom)} outside ${W}x${H}`);
      continue;
    }
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (style.position === 'fixed') break;
      if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
      if (!within(r, box.getBoundingClientRect())) {
        out.push(`${what(el)} scrolled or clipped out of ${what(box)}`);
        break;
      }
    }
  }
  const page = document.scrollingElement;
  if (page.scrollHeight > H + 1 || page.scrollWidth > W + 1) {
    out.push(`the page scrolls: ${page.scrollWidth}x${page.scrollHeight} in ${W}x${H}`);
  }
  return out;
}
"""


# Names that must never break inside (a court's name is one word: not "青龙镇人民法 / 庭"): each
# shown one that takes more than one line.
NAMES = ".tile .label .name, .tile .label .site, .list .site, #hearing-title, .card p, #meta span"
WRAPPED_JS = """
(names) => {
  const out = [];
  for (const el of document.querySelectorAll(names)) {
    if (!el.checkVisibility()) continue;
    const range = document.createRange();
    range.selectNodeContents(el);
    const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0)
      .map((r) => Math.round(r.bottom / 4)));
    if (lines.size > 1) out.push(`"${el.textContent}" breaks over ${lines.size} lines`);
  }
  return out;
}
"""


async def out_of_reach(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(OUT_OF_REACH_JS)
    wrapped: list[str] = await page.evaluate(WRAPPED_JS, NAMES)
    return found + wrapped


async def check_sizes(
    page: Page, what: str, ready: Callable[[Page], Awaitable[None]] | None = None
) -> None:
    """The page at every size: nothing out of reach (after ``ready`` once it is resized)."""
    problems = {}
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        if ready is not None:
            await ready(page)
        # Layout follows the resize within a frame; a second one lets the tile grid settle.
        await page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        found = await out_of_reach(page)
        if found:
            # Only a size with a problem is photographed: a screenshot waits for a new frame,
            # which a page with live video may not paint in time on a loaded machine.
            await screenshot(page, f"layout-{what.replace(' ', '-')}-{width}x{height}")
            problems[f"{width}x{height}"] = found
    assert not problems, f"{what}: controls out of reach:\n" + "\n".join(
        f"  {size}: {p}" for size, found in problems.items() for p in found
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # A one-second broadcast delay: the player has a stream to play soon after the start.
    srv = start_server(tmp_path_factory.mktemp("layout"), env={"CLOUDCOURT_BROADCAST_DELAY": "1"})
    yield srv
    srv.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def court(server: ServerProcess, browser: Browser) -> dict[str, Any]:
    """A public hearing in session: the judge, two parties (one's hand raised) and a site."""
    api = Api(server)
    h = await api.create_hearing(
        title="张三诉李四买卖合同纠纷一案", public=True, court="青龙镇人民法庭"
    )
    judge = await api.token(h["id"], "judge", "王法官")
    judge_page = await browser.page("judge")
    await judge_page.goto(api.abs(judge["join_url"]) + "&autojoin=1")
    await judge_page.wait_for_selector("#view-room:not([hidden]) #console-side:not([hidden])")
    pages = {"judge": judge_page}
    tokens = {"judge": judge}
    for key, role, name, extra in (
        ("a", "party", "张三", {"site": "青龙镇人民法庭"}),
        ("b", "agent", "李四的代理人", {}),
        ("site", "site", "青龙镇人民法庭", {}),
    ):
        tokens[key] = await api.token(h["id"], role, name, admitted=True, **extra)
        pages[key] = await browser.page(key)
        kiosk = "&kiosk=1" if key == "site" else ""
        await pages[key].goto(api.abs(tokens[key]["join_url"]) + "&autojoin=1" + kiosk)
    for key in ("a", "b", "site"):
        await pages[key].wait_for_selector("#view-room:not([hidden])")
        await judge_page.wait_for_selector(
            f'.tile[data-participant-id="{tokens[key]["participant_id"]}"]'
        )
    await pages["a"].evaluate("window.cc.session.raiseHand()")
    await judge_page.wait_for_selector('[data-hand="raised"]')
    return {"api": api, "hearing": h, "pages": pages, "tokens": tokens}


async def test_the_device_check_fits_every_screen(court: dict[str, Any], browser: Browser) -> None:
    api = court["api"]
    party = await api.token(court["hearing"]["id"], "witness", "证人甲")
    page = await browser.page("device check")
    await page.goto(api.abs(party["join_url"]))
    await page.wait_for_selector('#device-report li[data-device="camera"][data-status="ok"]')
    await check_sizes(page, "device check")
    await page.close()


async def test_the_lobby_fits_every_screen(court: dict[str, Any], browser: Browser) -> None:
    api = court["api"]
    party = await api.token(court["hearing"]["id"], "witness", "证人乙")
    page = await browser.page("lobby")
    await page.goto(api.abs(party["join_url"]) + "&autojoin=1")
    await page.wait_for_selector("#view-lobby:not([hidden])")
    await court["pages"]["judge"].wait_for_selector(
        f'#lobby-list li[data-participant-id="{party["participant_id"]}"]'
    )
    await check_sizes(page, "lobby")
    await page.close()


async def test_the_participant_room_fits_every_screen(court: dict[str, Any]) -> None:
    await check_sizes(court["pages"]["b"], "participant room")


async def test_the_console_fits_every_screen_with_a_waiting_party(
    court: dict[str, Any], browser: Browser
) -> None:
    api = court["api"]
    waiting = await api.token(court["hearing"]["id"], "witness", "证人丙")
    page = await browser.page("waiting")
    await page.goto(api.abs(waiting["join_url"]) + "&autojoin=1")
    judge = court["pages"]["judge"]
    await judge.wait_for_selector(
        f'#lobby-list li[data-participant-id="{waiting["participant_id"]}"]'
    )
    await judge.wait_for_selector("#live-start:not([hidden])")
    await check_sizes(judge, "judge console")
    await page.close()


async def test_an_open_tile_menu_fits_every_screen(court: dict[str, Any]) -> None:
    judge = court["pages"]["judge"]
    pid = court["tokens"]["a"]["participant_id"]

    async def menu_open(page: Page) -> None:
        await open_tile_menu(page, pid)

    await check_sizes(judge, "the console's tile menu", ready=menu_open)
    await judge.keyboard.press("Escape")
    await judge.wait_for_selector("#tile-menu", state="hidden")


async def test_the_kiosk_fits_every_screen(court: dict[str, Any]) -> None:
    kiosk = court["pages"]["site"]
    assert await kiosk.evaluate("document.body.classList.contains('kiosk')")
    await check_sizes(kiosk, "site kiosk")


async def test_the_portal_and_the_player_fit_every_screen(
    server: ServerProcess, browser: Browser
) -> None:
    cast = Cast(server)
    try:
        h, _ = await cast.on_air(31, title="公开审理的买卖合同纠纷", court="北京市海淀区人民法院")

        async def listed_live() -> Any:
            # Live in the catalog once its stream has public segments (the broadcast delay on).
            status, body, _ = await cast.api.request("GET", "/api/catalog?status=live", auth=None)
            return status == 200 and any(i["id"] == h["id"] for i in body["items"])

        await eventually(listed_live, "the hearing live in the catalog", timeout=30)
        portal = await browser.page("portal", media=False)
        await portal.goto(f"{server.url}/portal/")
        await portal.locator(f'#live li[data-id="{h["id"]}"]').wait_for(timeout=20000)
        await check_sizes(portal, "portal")
        await portal.goto(f"{server.url}/portal/player.html?id={h['id']}&kind=live")

        async def playing() -> Any:
            return await portal.evaluate("document.getElementById('video').readyState >= 2")

        await eventually(playing, "the live stream in the player", timeout=60)
        await check_sizes(portal, "player")
        await portal.close()
    finally:
        await cast.close()
