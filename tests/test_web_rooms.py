"""Rooms within a hearing on the pages (issue 13, docs/ROOMS.md), in real headless Chromium
against a real `cloudcourt serve`, with fake cameras and microphones.

One hearing runs through the module: the judge's console, a party and a witness. The witness
waits in the witness room behind the "请在此等候传唤" screen while the judge already sees them;
the judge calls them into the main room from the rooms panel and the party then sees them too;
the judge opens a private room, moves the party there, looks into it, goes in, and closes it; the
judge sends the witness back to the lobby and admits them again. The console's rooms panel and
the waiting screen fit a laptop, a tablet both ways and a phone. Media is judged at the receiving
page: decoded video frames and received audio bytes (tests/test_web_room.py's wait_live).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page

from signaling.rooms import RoomKind
from tests.browser import Browser, eventually, screenshot
from tests.e2e import Api
from tests.signaling_server import ServerProcess
from tests.test_web_layout import out_of_reach
from tests.test_web_room import open_tile_menu, wait_live

pytestmark = pytest.mark.asyncio(loop_scope="module")

# A laptop, a 10-inch tablet both ways, a phone.
SIZES = [(1366, 768), (1024, 768), (768, 1024), (390, 844)]

PRIVATE = "会谈室「原告方」"

WEB = Path(__file__).resolve().parent.parent / "web" / "static"


async def test_every_room_text_is_in_both_languages() -> None:
    """The rooms' words on the join page (its HTML and scripts, and the name of each kind of
    room the server sends) have a text in zh-CN and in English."""
    sources = "".join(
        (WEB / f).read_text() for f in ("join.html", "js/join.js", "js/rooms.js", "js/session.js")
    )
    used = set(re.findall(r"[\"']((?:rooms|side)\.[a-z_]+)[\"']", sources))
    used |= {f"rooms.{kind}" for kind in RoomKind if kind is not RoomKind.PRIVATE}
    assert {"rooms.move_to", "side.rooms", "rooms.wait_title"} <= used, used
    for language in ("zh-CN", "en"):
        texts = json.loads((WEB / "i18n" / f"{language}.json").read_text())
        missing = sorted(key for key in used if not texts.get(key, "").strip())
        assert not missing, f"{language}.json has no text for {missing}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hearing(server: ServerProcess, browser: Browser) -> dict[str, Any]:
    """The judge in the console, the party in the main room, the witness in the witness room."""
    api = Api(server)
    h = await api.create_hearing(title="张三诉李四民间借贷纠纷")
    tokens = {
        "judge": await api.token(h["id"], "judge", "王法官"),
        "party": await api.token(h["id"], "party", "张三", admitted=True),
        "witness": await api.token(h["id"], "witness", "赵证人", admitted=True),
    }
    pages = {}
    for key, tok in tokens.items():
        pages[key] = await browser.page(key)
        await pages[key].goto(api.abs(tok["join_url"]) + "&autojoin=1")
    for page in pages.values():
        await page.wait_for_selector("#view-room:not([hidden]) #room-banner:not([hidden])")
    ids = {key: tok["participant_id"] for key, tok in tokens.items()}
    return {"api": api, "id": h["id"], "pages": pages, "tokens": tokens, "ids": ids}


async def where(page: Page) -> tuple[str | None, str]:
    """The room kind the page's banner shows, and its words."""
    return (
        await page.get_attribute("#room-banner", "data-room-kind"),
        await page.inner_text("#room-here"),
    )


async def in_room(page: Page, kind: str, words: str) -> None:
    async def shown() -> Any:
        return await where(page) == (kind, words) or None

    await eventually(shown, f"the banner says {words}", timeout=10)


def member(pid: str) -> str:
    return f'#rooms-list li[data-participant-id="{pid}"]'


async def members(page: Page, room_id: str) -> set[str]:
    """The participant ids the console's rooms panel lists in ``room_id``."""
    found: list[str] = await page.eval_on_selector_all(
        f'#rooms-list li.room[data-room-id="{room_id}"] .members li',
        "(lis) => lis.map((li) => li.dataset.participantId)",
    )
    return set(found)


async def listed(page: Page, room_id: str, pids: set[str]) -> None:
    async def ok() -> Any:
        return await members(page, room_id) == pids or None

    await eventually(ok, f"the rooms panel lists {pids} in {room_id}", timeout=10)


async def move_from_panel(judge: Page, pid: str, action: str) -> None:
    """The judge opens ``pid``'s "移至…" menu in the rooms panel and chooses ``action``."""
    await judge.click(f"{member(pid)} .act-move")
    menu = judge.locator(f'#tile-menu[data-participant-id="{pid}"][data-from="rooms"]')
    await menu.wait_for()
    await menu.locator(f".act-{action}").click()


def tile(pid: str) -> str:
    return f'.tile.person[data-participant-id="{pid}"]'


async def receives_from(page: Page, pid: str) -> bool:
    """Whether the page's subscriber connection carries anything of ``pid`` (the server's list)."""
    found: bool = await page.evaluate(
        "(pid) => [...window.cc.session.tracks.values()].some((t) => t.participant_id === pid)",
        pid,
    )
    return found


async def stops_receiving(page: Page, pid: str, what: str) -> None:
    """The server takes ``pid``'s tracks off the page's subscriber connection (a move)."""

    async def gone() -> bool:
        return not await receives_from(page, pid)

    await eventually(gone, what, timeout=10)


async def test_the_witness_waits_and_the_judge_calls_them_in(hearing: dict[str, Any]) -> None:
    pages, ids = hearing["pages"], hearing["ids"]
    judge, party, witness = pages["judge"], pages["party"], pages["witness"]
    await in_room(witness, "witness", "您在：候证室")
    await witness.wait_for_selector("#witness-wait:not([hidden])")
    assert "请在此等候传唤" in await witness.inner_text("#witness-wait")
    assert await witness.is_hidden("#media-area")
    # Their own camera stays in view, small.
    await eventually(
        lambda: witness.evaluate("document.getElementById('wait-preview').videoWidth > 0"),
        "the witness's own preview",
    )
    await in_room(party, "main", "您在：主法庭")
    await in_room(judge, "main", "您在：主法庭")

    # The judge looks into the witness room by default: sees and hears the witness, whose tile
    # says where they are; the party neither sees nor lists them, and the witness gets nothing.
    await wait_live(judge, ids["witness"], "the judge sees the waiting witness")
    assert "候证室" in await judge.inner_text(f"{tile(ids['witness'])} .room-tag")
    assert "正在查看：候证室" in await judge.inner_text("#room-banner")
    await wait_live(party, ids["judge"], "the party sees the judge")
    await wait_live(judge, ids["party"], "the judge sees the party")
    assert await party.locator(tile(ids["witness"])).count() == 0
    assert not await receives_from(party, ids["witness"])
    assert not await party.evaluate(f"window.cc.session.participants.has({ids['witness']!r})")
    assert not await receives_from(witness, ids["judge"])
    assert not await receives_from(witness, ids["party"])
    # Nobody but a moderator has the console.
    for page in (party, witness):
        assert await page.is_hidden("#console-side")
    await screenshot(witness, "rooms-witness-waiting")

    # The rooms panel: who is where, and how long.
    await judge.click("#tab-rooms")
    await judge.wait_for_selector("#rooms-panel:not([hidden])")
    assert await judge.is_hidden("#broadcast-panel")
    await listed(judge, "main", {ids["judge"], ids["party"]})
    await listed(judge, "witness", {ids["witness"]})
    assert await judge.inner_text('#rooms-list li[data-room-id="main"] .room-name') == "主法庭"
    assert "赵证人" in await judge.inner_text(member(ids["witness"]))
    assert "证人" in await judge.inner_text(member(ids["witness"]))
    await eventually(
        lambda: judge.inner_text(f"{member(ids['witness'])} .stay"),
        "how long the witness has been waiting",
    )
    assert (await judge.inner_text(f"{member(ids['witness'])} .stay")).startswith("已 ")
    await screenshot(judge, "rooms-console")

    # Called in: the witness's page shows the hearing, everyone sees and hears them.
    called = time.monotonic()
    await move_from_panel(judge, ids["witness"], "move-main")
    await in_room(witness, "main", "您在：主法庭")
    print(f"witness banner changed {time.monotonic() - called:.2f} s after the click")
    assert await witness.is_hidden("#witness-wait")
    await wait_live(party, ids["witness"], "the party sees and hears the called witness")
    await wait_live(witness, ids["judge"], "the called witness sees and hears the judge")
    await wait_live(witness, ids["party"], "the called witness sees and hears the party")
    await wait_live(judge, ids["witness"], "the judge still sees and hears the witness")
    await listed(judge, "main", {ids["judge"], ids["party"], ids["witness"]})
    await listed(judge, "witness", set())
    assert await judge.locator(f"{tile(ids['witness'])} .room-tag").count() == 0
    await screenshot(witness, "rooms-witness-called")


async def test_a_private_room_opened_looked_into_entered_and_closed(
    hearing: dict[str, Any],
) -> None:
    pages, ids = hearing["pages"], hearing["ids"]
    judge, party, witness = pages["judge"], pages["party"], pages["witness"]
    # An empty name is refused on the page, without a request.
    await judge.click("#room-open")
    await judge.wait_for_selector("#rooms-error:not([hidden])")
    await judge.fill("#room-name", "原告方")
    await judge.click("#room-open")
    room = judge.locator('#rooms-list li.room[data-room-kind="private"]')
    await room.wait_for()
    assert await judge.is_hidden("#rooms-error")
    assert await room.locator(".room-name").inner_text() == PRIVATE
    assert await judge.inner_text("#tab-rooms") == "庭内房间（另开 1 间）"
    room_id = await room.get_attribute("data-room-id")
    assert room_id and room_id.startswith("r_"), room_id

    await move_from_panel(judge, ids["party"], "move-private")
    await in_room(party, "private", f"您在：{PRIVATE}")
    await listed(judge, room_id, {ids["party"]})
    # Not looked into: the judge and the witness in the main room no longer get the party.
    for page in (judge, witness):
        await page.wait_for_selector(tile(ids["party"]), state="detached")
    await party.wait_for_selector(tile(ids["judge"]), state="detached")
    await stops_receiving(witness, ids["party"], "the witness no longer receives the party")
    await stops_receiving(party, ids["judge"], "the party no longer receives the judge")

    # 查看: the judge sees into the room without going there; the party still does not get them.
    await room.locator(".act-watch").click()
    await judge.wait_for_selector(
        f'#rooms-list li[data-room-id="{room_id}"] .act-watch[aria-pressed="true"]'
    )
    await wait_live(judge, ids["party"], "the judge looks into the private room")
    assert await judge.inner_text(f"{tile(ids['party'])} .room-tag") == PRIVATE
    assert PRIVATE in await judge.inner_text("#room-watching")
    assert not await receives_from(party, ids["judge"])

    # 进入: the judge speaks into the room; the witness left in the main room loses the judge.
    await judge.locator(f'#rooms-list li[data-room-id="{room_id}"] .act-enter').click()
    await in_room(judge, "private", f"您在：{PRIVATE}")
    await wait_live(party, ids["judge"], "the party sees and hears the judge who came in")
    await witness.wait_for_selector(tile(ids["judge"]), state="detached")
    await listed(judge, room_id, {ids["judge"], ids["party"]})
    await screenshot(judge, "rooms-console-private")

    # Closed: everyone in it is back in the main room.
    await judge.locator(f'#rooms-list li[data-room-id="{room_id}"] .act-close').click()
    await judge.wait_for_selector(f'#rooms-list li[data-room-id="{room_id}"]', state="detached")
    await in_room(party, "main", "您在：主法庭")
    await in_room(judge, "main", "您在：主法庭")
    assert await judge.inner_text("#tab-rooms") == "庭内房间"
    await wait_live(witness, ids["party"], "the witness sees the party again")
    await wait_live(witness, ids["judge"], "the witness sees the judge again")
    await wait_live(party, ids["witness"], "the party sees the witness again")


async def test_sent_back_to_the_lobby_and_admitted_again(hearing: dict[str, Any]) -> None:
    pages, ids = hearing["pages"], hearing["ids"]
    judge, party, witness = pages["judge"], pages["party"], pages["witness"]
    # From the tile's own menu this time.
    menu = await open_tile_menu(judge, ids["witness"])
    assert await menu.locator(".act-move-main").count() == 0  # where they are already
    await menu.locator(".act-move-lobby").click()
    await witness.wait_for_selector("#view-lobby:not([hidden])")
    assert await witness.evaluate("!window.cc.session.subPc && !window.cc.session.pubPc")
    await party.wait_for_selector(tile(ids["witness"]), state="detached")
    await judge.click("#tab-hearing")
    entry = f'#lobby-list li[data-participant-id="{ids["witness"]}"]'
    await judge.wait_for_selector(entry)
    assert await judge.inner_text("#tab-hearing") == "候审与录制（1 人等待）"
    await judge.click(f"{entry} .act-admit")
    # Admitted again, a witness waits in the witness room.
    await witness.wait_for_selector("#view-room:not([hidden])")
    await in_room(witness, "witness", "您在：候证室")
    await witness.wait_for_selector("#witness-wait:not([hidden])")
    await wait_live(judge, ids["witness"], "the judge sees the witness waiting again")
    assert await party.locator(tile(ids["witness"])).count() == 0


PRIVATE_ROOMS_JS = """
(lis) => lis.map((li) => [li.querySelector('.room-name').textContent, li.dataset.roomId])
"""


async def private_room(page: Page, name: str) -> str | None:
    """The id of the private room the console's panel lists under ``name``."""
    found = await page.eval_on_selector_all(
        '#rooms-list li.room[data-room-kind="private"]', PRIVATE_ROOMS_JS
    )
    room_id: str | None = dict(found).get(name)
    return room_id


async def test_the_mediator_shuttles_between_two_caucuses(
    server: ServerProcess, browser: Browser
) -> None:
    """背靠背 in a mediation: the mediator puts each side in a room of its own (调解室「…」) and
    goes from one to the other; the side the mediator is not with receives neither the mediator
    nor the other side."""
    api = Api(server)
    h = await api.create_hearing(title="邻里纠纷调解", kind="mediation")
    tokens = {
        "mediator": await api.token(h["id"], "mediator", "刘调解员"),
        "a": await api.token(h["id"], "party", "张三", admitted=True),
        "b": await api.token(h["id"], "party", "李四", admitted=True),
    }
    ids = {key: tok["participant_id"] for key, tok in tokens.items()}
    pages = {}
    for key, tok in tokens.items():
        pages[key] = await browser.page(f"mediation {key}")
        await pages[key].goto(api.abs(tok["join_url"]) + "&autojoin=1")
    mediator, a, b = pages["mediator"], pages["a"], pages["b"]
    await mediator.wait_for_selector("#view-room:not([hidden]) #console-side:not([hidden])")
    await wait_live(a, ids["b"], "party A sees party B in the main room")
    await side(mediator, "rooms", opened=True)
    names = {"a": "申请人", "b": "被申请人"}
    rooms = {}
    for key, name in names.items():
        await mediator.fill("#room-name", name)
        await mediator.click("#room-open")
        rooms[key] = await eventually(
            lambda shown=f"调解室「{name}」": private_room(mediator, shown),
            f"the room {name} opened",
        )
        await move_from_panel(mediator, ids[key], f'move-private[data-room-id="{rooms[key]}"]')
        await in_room(pages[key], "private", f"您在：调解室「{name}」")
    await stops_receiving(a, ids["b"], "party A no longer receives party B")
    await stops_receiving(b, ids["a"], "party B no longer receives party A")
    for key, other in (("a", "b"), ("b", "a")):
        await mediator.locator(f'#rooms-list li[data-room-id="{rooms[key]}"] .act-enter').click()
        await in_room(mediator, "private", f"您在：调解室「{names[key]}」")
        await wait_live(pages[key], ids["mediator"], f"party {key} hears the mediator in caucus")
        await wait_live(mediator, ids[key], f"the mediator hears party {key} in caucus")
        await stops_receiving(pages[other], ids["mediator"], f"party {other} waits alone")
        assert not await receives_from(pages[key], ids[other])
    for page in pages.values():
        await page.close()


async def side(judge: Page, tab: str, *, opened: bool) -> None:
    """The console's side on ``tab``, its drawer (portrait screens) open or closed: a click on a
    tab opens it, a second one on the open tab closes it."""
    for _ in range(2):
        state = await judge.eval_on_selector(
            "#console-side", "(side) => [side.dataset.tab, side.dataset.open]"
        )
        if state == [tab, "1" if opened else "0"]:
            return
        await judge.click(f"#tab-{tab}")
    raise AssertionError(f"the console's side is {state}, not {tab} {opened}")


async def fits(page: Page, what: str) -> None:
    """``page`` at every size of SIZES: nothing out of reach (tests/test_web_layout.py's check)."""
    problems = {}
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        found = await out_of_reach(page)
        if found:
            await screenshot(page, f"layout-{what.replace(' ', '-')}-{width}x{height}")
            problems[f"{width}x{height}"] = found
    assert not problems, f"{what}: out of reach:\n" + "\n".join(
        f"  {size}: {p}" for size, found in problems.items() for p in found
    )


async def test_the_rooms_panel_and_the_waiting_screen_fit_every_screen(
    hearing: dict[str, Any],
) -> None:
    pages, ids = hearing["pages"], hearing["ids"]
    judge = pages["judge"]
    await fits(pages["witness"], "witness waiting screen")
    await screenshot(pages["witness"], "rooms-witness-waiting-phone")  # the last size
    await fits(pages["party"], "party with the room banner")
    # On a portrait screen the side is a drawer: pictures with its tabs, or a tab's panel.
    await side(judge, "hearing", opened=False)
    await fits(judge, "console pictures")
    await side(judge, "hearing", opened=True)
    await fits(judge, "console hearing tab")
    # The rooms tab with a private room holding the party, and a member's menu open.
    await side(judge, "rooms", opened=True)
    await judge.fill("#room-name", "被告方及其代理人")
    await judge.click("#room-open")
    room = judge.locator('#rooms-list li.room[data-room-kind="private"]')
    await room.wait_for()
    room_id = await room.get_attribute("data-room-id")
    await move_from_panel(judge, ids["party"], "move-private")
    await listed(judge, str(room_id), {ids["party"]})
    await fits(judge, "console rooms tab")
    await screenshot(judge, "rooms-console-phone")
    await judge.click(f"{member(ids['party'])} .act-move")
    await judge.wait_for_selector('#tile-menu[data-from="rooms"]')
    await fits(judge, "console rooms menu")
    await judge.keyboard.press("Escape")
    await judge.wait_for_selector("#tile-menu", state="hidden")
    # English words are longer: the same in English.
    await judge.click("#lang-switch")
    await judge.wait_for_selector('#tab-rooms:text-is("Rooms (1 more open)")')
    assert await judge.inner_text(f"{member(ids['party'])} .role") == "Party"
    await fits(judge, "console rooms tab in English")
    await side(judge, "hearing", opened=True)
    await fits(judge, "console hearing tab in English")
