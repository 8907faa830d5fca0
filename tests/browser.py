"""Playwright harness for the browser end-to-end tests: Debian's Chromium, fake media, loopback.

Chromium is Debian's ``/usr/bin/chromium`` (installed by scripts/test), driven by the pip
``playwright`` package's bundled driver; no browser is ever downloaded. Each ``launch`` gets a
fresh profile (Playwright makes a temporary user-data-dir per launch). Each page made with
:meth:`Browser.page` is watched: console errors and uncaught page errors are collected and
:meth:`Browser.assert_no_errors` (called after every test that uses ``browser``) fails the test
when there are any.

This module is a pytest plugin (tests/conftest.py): the ``browser`` fixture is one Chromium per
test module, and every test that uses it fails if a page logged an error. Use in a test module::

    pytestmark = pytest.mark.asyncio(loop_scope="module")

    async def test_x(browser, server):
        page = await browser.page("judge")
        ...
        await screenshot(page, "console")
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, ConsoleMessage, Error, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"

# Fake camera/microphone with no permission prompt; loopback ICE candidates (none at all
# without the flag); plain IP candidates instead of mDNS names, which aioice cannot resolve in a
# private network namespace; nothing that reaches for the internet.
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Without the fake device, a headless machine has no camera and no microphone at all.
NO_DEVICE_ARGS = [a for a in CHROMIUM_ARGS if a != "--use-fake-device-for-media-stream"]

SCREENSHOTS_DIR = Path(os.environ.get("CLOUDCOURT_SCREENSHOTS_DIR", "tests/artifacts/screenshots"))


@dataclass
class Browser:
    """One Chromium; one context (own cookies, storage, network) per page."""

    chromium: Any
    errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    async def page(self, label: str, *, viewport: dict | None = None, media: bool = True) -> Page:
        """A new page in its own context, its console errors collected under ``label``."""
        context = await self.chromium.new_context(
            viewport=viewport or {"width": 1280, "height": 800},
            permissions=["camera", "microphone"] if media else [],
            locale="zh-CN",
        )
        self.contexts.append(context)
        page = await context.new_page()
        self.watch(page, label)
        return page

    def watch(self, page: Page, label: str) -> None:
        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self.errors.append(f"[{label}] console.error: {msg.text} ({msg.location})")

        def on_error(err: Error) -> None:
            self.errors.append(f"[{label}] page error: {err}")

        page.on("console", on_console)
        page.on("pageerror", on_error)

    def take_errors(self) -> list[str]:
        errors, self.errors = self.errors, []
        return errors

    def assert_no_errors(self) -> None:
        errors = self.take_errors()
        assert not errors, "the UI logged errors:\n" + "\n".join(errors)

    async def close_contexts(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Error):
                await context.close()
        self.contexts.clear()


@contextlib.asynccontextmanager
async def launch(args: list[str] | None = None) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, args=args or CHROMIUM_ARGS, headless=True
        )
        try:
            yield Browser(chromium)
        finally:
            await chromium.close()


async def screenshot(page: Page, name: str) -> Path:
    """Saves ``name``.png into CLOUDCOURT_SCREENSHOTS_DIR (default tests/artifacts/screenshots)."""
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS_DIR / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


async def eventually(
    check: Callable[[], Awaitable[Any]], what: str, timeout: float = 20.0, interval: float = 0.25
) -> Any:
    """Polls ``check`` until it returns something truthy; fails with ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last}")
        await asyncio.sleep(interval)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium per test module; the module's tests share its event loop."""
    async with launch() as b:
        yield b
        await b.close_contexts()


@pytest.fixture(autouse=True)
def _no_console_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    used = request.getfixturevalue("browser") if "browser" in request.fixturenames else None
    yield
    if used is not None:
        used.assert_no_errors()
