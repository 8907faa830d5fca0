"""The /sign page in real headless Chromium (docs/SIGNING.md): a signature drawn on the
signature_pad canvas and signed, three ways — a party's link at 1366×768 (mouse moves), a party
in person on the site's touch tablet (portrait; a finger's touch events) with the officer's
attestation, the mediator's own session on a landscape tablet, which makes the agreement
effective; a refusal with its reason; nothing pushes the page sideways."""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page

from tests.browser import Browser, eventually, screenshot
from tests.e2e import Api
from tests.signing_network import Village

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def village(server) -> Village:
    return await Village(Api(server)).build()


async def _page(
    browser: Browser,
    label: str,
    viewport: dict[str, int],
    session: str | None,
    *,
    touch: bool = False,
) -> Page:
    if touch:
        # A tablet: a touch screen (Browser.page makes mouse-only contexts).
        context = await browser.chromium.new_context(
            viewport=viewport, has_touch=True, is_mobile=True, locale="zh-CN"
        )
        browser.contexts.append(context)
        page = await context.new_page()
        browser.watch(page, label)
    else:
        page = await browser.page(label, viewport=viewport, media=False)
    if session is not None:
        # As /login leaves it (js/account.js): the session in the tab's sessionStorage.
        await page.context.add_init_script(
            f"sessionStorage.setItem('cloudcourt.session', {json.dumps(session)})"
        )
    return page


async def _draw(page: Page) -> None:
    """A signature: one stroke of mouse moves across the pad."""
    await page.locator("#pad").scroll_into_view_if_needed()
    box = await page.locator("#pad").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100, box
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    await page.mouse.move(x + w * 0.1, y + h * 0.6)
    await page.mouse.down()
    for i in range(1, 25):
        await page.mouse.move(
            x + w * (0.1 + 0.03 * i), y + h * (0.6 - 0.3 * ((i % 4) / 3)), steps=2
        )
    await page.mouse.up()


async def _draw_by_touch(page: Page) -> None:
    """A signature drawn with a finger: touch events through the DevTools protocol."""
    await page.locator("#pad").scroll_into_view_if_needed()
    box = await page.locator("#pad").bounding_box()
    assert box is not None, box
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    points = [(x + w * (0.1 + 0.03 * i), y + h * (0.3 + 0.2 * (i % 3))) for i in range(25)]
    cdp = await page.context.new_cdp_session(page)
    await cdp.send(
        "Input.dispatchTouchEvent",
        {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]},
    )
    for px, py in points[1:]:
        await cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": px, "y": py}]}
        )
    await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    await cdp.detach()


async def _doc(api: Api, document_id: str, auth: str) -> dict[str, Any]:
    status, data, _ = await api.request("GET", f"/api/documents/{document_id}", auth=auth)
    assert status == 200, (status, data)
    return dict(data)


async def _no_sideways_scroll(page: Page) -> None:
    wide = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert wide <= 0, f"the page scrolls sideways by {wide}px"


async def test_three_signers_sign_on_the_page(village: Village, browser: Browser) -> None:
    api = village.api
    dispute = await village.dispute()
    applicant, respondent = dispute["parties"]
    doc = await village.agreement(dispute)

    # 1. The respondent, remotely, with a link the site officer sent, at 1366×768. They
    # prove who they are first: a wrong answer is refused, the right one opens the text.
    link = await village.unconfirmed_link(doc, respondent["id"])
    page = await _page(browser, "link", {"width": 1366, "height": 768}, None)
    await page.goto(link["url"])
    await page.locator("#identity-card").wait_for()
    assert await page.is_hidden("#layout")
    right = village.last6(respondent["id"])
    wrong = f"{(int(right[:5]) + 1) % 100000:05d}{right[5]}"
    await page.fill("#id-last6", wrong)
    await page.click("#identity-submit")
    await page.locator("#error", has_text="4 tries left").wait_for()
    await screenshot(page, "sign-identity-1366")
    # The browser logs the refused answer's 403; nothing else may be logged.
    logged = browser.take_errors()
    assert all("/identity" in e and "403" in e for e in logged), logged
    await page.fill("#id-last6", right.lower())
    await page.click("#identity-submit")
    await page.locator("#doc-text", has_text="越界围墙拆除").wait_for()
    assert await page.is_hidden("#identity-card")
    assert await page.inner_text("#doc-sha256") == doc["text_sha256"]
    await page.locator("#hash-check", has_text="一致").wait_for()  # computed in the browser
    assert "钱小河" in await page.inner_text("#signing-as")
    assert await page.is_hidden("#attest-box")
    await _no_sideways_scroll(page)
    # Signing an empty pad, or before ticking "read", is stopped on the page.
    await page.check("#read")
    await page.click("#sign")
    await page.locator("#error", has_text="签名区还是空的").wait_for()
    await _draw(page)
    await screenshot(page, "sign-link-1366")
    await page.click("#sign")
    await page.locator("#notice", has_text="钱小河 已签名").wait_for()
    await page.locator("#done-card:not([hidden])").wait_for()
    seen = await _doc(api, doc["id"], village.officer["session"])
    entry = next(e for e in seen["entries"] if e.get("signer") == f"party:{respondent['id']}")
    assert entry["type"] == "signature" and entry["actor"]["kind"] == "link"
    assert entry["attestation"] is None and len(entry["image_sha256"]) == 64
    # The PDF opens with the link's credential (fetched, then shown from a blob).
    async with page.context.expect_page() as opened:
        await page.click("#pdf-link")
    tab = await opened.value

    async def shown() -> bool:
        return tab.url.startswith("blob:")

    await eventually(shown, "the PDF tab showing the fetched PDF")
    assert await page.is_hidden("#error")

    # 2. The applicant, in person, on the site's tablet (portrait), the officer attesting.
    page = await _page(
        browser, "officer", {"width": 768, "height": 1024}, village.officer["session"], touch=True
    )
    await page.goto(api.abs(f"/sign?document={doc['id']}"))
    await page.locator("#signing-as", has_text="赵大山").wait_for()
    assert await page.is_visible("#attest-box")
    await _no_sideways_scroll(page)
    await _draw_by_touch(page)
    await page.check("#read")
    await page.click("#sign")
    await page.locator("#error", has_text="见证").wait_for()  # the attestation is required
    await page.check("#attest")
    await page.click("#sign")
    await page.locator("#notice", has_text="赵大山 已签名").wait_for()
    await screenshot(page, "sign-officer-768x1024")
    seen = await _doc(api, doc["id"], village.officer["session"])
    entry = next(e for e in seen["entries"] if e.get("signer") == f"party:{applicant['id']}")
    assert entry["attestation"]["officer_id"] == village.officer["id"]

    # 3. The mediator, own session, landscape tablet: the last signature makes it effective.
    page = await _page(
        browser, "mediator", {"width": 1024, "height": 768}, village.mediator["session"]
    )
    await page.goto(api.abs(f"/sign?document={doc['id']}"))
    await page.locator("#signing-as", has_text="张调解员").wait_for()
    await _no_sideways_scroll(page)
    await _draw(page)
    await page.click("#clear")  # clear and redo
    assert await page.evaluate("document.querySelector('#pad') !== null")
    await page.check("#read")
    await page.click("#sign")
    await page.locator("#error", has_text="签名区还是空的").wait_for()
    await _draw(page)
    await page.click("#sign")
    await page.locator("#notice", has_text="文书自最后一方签名时生效").wait_for()
    await page.locator("#doc-state", has_text="已生效").wait_for()
    await screenshot(page, "sign-mediator-1024x768")
    seen = await _doc(api, doc["id"], village.officer["session"])
    assert seen["state"] == "effective"
    assert {s["status"] for s in seen["signers"]} == {"signed"}

    async def mediated() -> bool:
        status, data, _ = await api.request(
            "GET", f"/api/disputes/{dispute['id']}", auth=village.officer["session"]
        )
        return status == 200 and data["state"] == "mediated"

    await eventually(mediated, "the dispute mediated")


async def test_a_party_refuses_with_a_reason_and_english_works(
    village: Village, browser: Browser
) -> None:
    api = village.api
    dispute = await village.dispute()
    doc = await village.agreement(dispute)
    page = await _page(
        browser, "refuse", {"width": 1366, "height": 768}, village.officer["session"]
    )
    await page.goto(api.abs(f"/sign?document={doc['id']}&lang=en"))
    await page.locator("#sign", has_text="Sign").wait_for()
    await page.select_option("#party-select", f"party:{dispute['parties'][1]['id']}")
    assert "钱小河" in await page.inner_text("#signing-as")
    await page.check("#read")
    await page.check("#attest")
    await page.click("#refuse-open")
    await page.fill("#refuse-reason", "围墙是祖上传下来的")
    await page.click("#refuse-submit")
    await page.locator("#notice", has_text="refused").wait_for()
    await page.locator("#doc-state", has_text="refused").wait_for()
    seen = await _doc(api, doc["id"], village.officer["session"])
    assert seen["state"] == "refused"
    refusal = seen["entries"][-1]
    assert refusal["type"] == "refusal" and refusal["reason"] == "围墙是祖上传下来的"
