"""Shared set-up of the desks' browser tests (tests/test_web_officer.py, test_web_liaison.py):
village site A with its people, parties and intakes through the API, signing in on /login,
and the check that a page never scrolls sideways.

``await site_a(api, county="青山县")`` → {"api", "judge", "officer", "mediator", "a"}: the site
both desks' tests start from; each module's ``net`` fixture adds its other sites and people.
``await intake(api, officer["session"], site_id, parties=[party("applicant", "张三", "东山村"),
...])`` → the new dispute's JSON.
``await sign_in(browser, api, who, "officer A", lands="/officer")`` → the page on that desk,
ready (``body[data-ready='1']``).
"""

from __future__ import annotations

import itertools
from typing import Any

from playwright.async_api import Page

from tests.browser import Browser, screenshot
from tests.e2e import Api
from tests.network import account, site

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_serial = itertools.count(101)


def id_number(birth: str = "19800101", region: str = "330102") -> str:
    """A valid 18-character ID number (GB 11643: the check character from the weighted sum)."""
    body = f"{region}{birth}{next(_serial) % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def party(side: str, name: str, village: str, township: str = "青山镇") -> dict[str, Any]:
    return {
        "side": side,
        "name": name,
        "id_number": id_number(),
        "phone": "13812345678",
        "address": f"{township}{village}1组",
        "village": village,
        "township": township,
        "consents": {"online_mediation": True, "electronic_service": True},
    }


async def intake(api: Api, session: str, site_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "intake_site_id": site_id,
        "type": "neighbour",
        "summary": "相邻通行纠纷",
        **fields,
    }
    status, data, _ = await api.request("POST", "/api/disputes", json=body, auth=session)
    assert status == 201, f"intake: {status} {data}"
    return dict(data)


async def post(api: Api, path: str, auth: str, body: Any = None, expect: int = 200) -> Any:
    status, data, _ = await api.request("POST", path, json=body, auth=auth)
    assert status == expect, f"POST {path}: {status} {data}"
    return data


async def site_a(api: Api, **extra: Any) -> dict[str, Any]:
    """Village site A (青山镇东山村) with its liaison judge 周法官, officer 李庭务 and mediator
    王调解; ``extra`` are more of the site's fields (its county)."""
    judge = await account(api, "judge", name="周法官")
    officer = await account(api, "officer", name="李庭务")
    mediator = await account(api, "mediator", name="王调解")
    a = await site(
        api,
        kind="village",
        name="青山镇东山村云法庭",
        township="青山镇",
        village="东山村",
        liaison_judge_id=judge["id"],
        officer_id=officer["id"],
        mediator_ids=[mediator["id"]],
        **extra,
    )
    return {"api": api, "judge": judge, "officer": officer, "mediator": mediator, "a": a}


async def sign_in(
    browser: Browser, api: Api, who: dict[str, Any], label: str, *, lands: str, **kw: Any
) -> Page:
    """The person's own login on /login, which sends them to their desk (``lands``)."""
    page = await browser.page(label, media=False, **kw)
    await page.goto(api.abs("/login"))
    await page.fill("#username", who["username"])
    await page.fill("#password", who["password"])
    await page.click("#login-submit")
    await page.wait_for_url(f"**{lands}")
    await page.wait_for_selector("body[data-ready='1']")
    return page


async def refreshed(page: Page) -> None:
    """The desk's refresh button, and the desk done re-reading (data-refreshing gone)."""
    await page.click("#refresh")
    await page.wait_for_selector("body:not([data-refreshing])")


async def contains(locator: Any, text: str) -> bool:
    return text in await locator.inner_text()


# Nothing may push the page sideways: the document and every scrolling box fit their width,
# and every shown control lies inside the viewport's width.
SIDEWAYS_JS = """
() => {
  const out = [];
  const W = innerWidth;
  const what = (el) => `${el.tagName}#${el.id}.${el.className}`;
  const page = document.scrollingElement;
  if (page.scrollWidth > W + 1) out.push(`the page scrolls sideways: ${page.scrollWidth} > ${W}`);
  for (const box of document.querySelectorAll('main, .card, .table-wrap, .split, .pane')) {
    if (!box.checkVisibility()) continue;
    const wide = box.scrollWidth > box.clientWidth + 1;
    if (wide && getComputedStyle(box).overflowX !== 'visible')
      out.push(`${what(box)} scrolls sideways: ${box.scrollWidth} > ${box.clientWidth}`);
  }
  for (const el of document.querySelectorAll('button, a[href], input, select, textarea')) {
    if (!el.checkVisibility()) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    const label = (el.innerText || el.name || '').slice(0, 20);
    if (r.left < -0.5 || r.right > W + 0.5)
      out.push(`${what(el)} "${label}" at ${Math.round(r.left)}-${Math.round(r.right)} of ${W}`);
  }
  return out;
}
"""

SIZES = [(1366, 768), (1024, 768), (768, 1024)]


async def no_sideways(page: Page, what: str) -> None:
    problems: dict[str, list[str]] = {}
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        found: list[str] = await page.evaluate(SIDEWAYS_JS)
        await screenshot(page, f"{what}-{width}x{height}")
        if found:
            problems[f"{width}x{height}"] = found
    await page.set_viewport_size({"width": 1280, "height": 800})
    assert not problems, f"{what}: " + "\n".join(f"{k}: {v}" for k, v in problems.items())


async def site_a_dispute(
    net: dict[str, Any], summary: str, applicant: str, respondent: str, **fields: Any
) -> dict[str, Any]:
    """A dispute taken in by site A's officer between two residents of 东山村 (site A's own
    village, so the ladder keeps it at site A); ``fields`` are more of the intake's."""
    parties = [party("applicant", applicant, "东山村"), party("respondent", respondent, "东山村")]
    return await intake(
        net["api"],
        net["officer"]["session"],
        net["a"]["id"],
        summary=summary,
        parties=parties,
        **fields,
    )
