"""The whole story in a real browser: alice orders, bob approves, a worker provisions it, and
alice's order page turns `completed` by itself (htmx polling, no reload)."""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

pytestmark = pytest.mark.browser

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run beside one
# unless told it is safe (pytest-django's live_server runs in another thread anyway).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"  # Debian's Chromium; `make test` installs it when missing
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make test`, which installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _login(browser: Browser, base_url: str, username: str):
    page = browser.new_context(base_url=base_url).new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "canopy")
    page.click("button:has-text('Log in')")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    return page


def test_order_approve_and_watch_it_complete(demo, live_server, celery_worker_process, browser):
    alice = _login(browser, live_server.url, "alice")
    alice.locator(".card", has_text="Linux VM").get_by_role("link", name="Order").click()
    alice.fill("#id_name", "shop-web-1")
    alice.select_option("#id_size", "medium")
    expect(alice.locator("#estimate")).to_contain_text("29.20")
    alice.click("button:has-text('Submit order')")
    expect(alice).to_have_url(re.compile(r"/orders/\d+/$"))
    status = alice.get_by_test_id("order-status")
    expect(status).to_have_text("pending_approval")

    bob = _login(browser, live_server.url, "bob")
    expect(bob.get_by_test_id("pending-approvals")).to_have_text("1")
    bob.goto("/approvals/")
    bob.click("td a")
    bob.fill("#id_comment", "fine for the shop")
    bob.click("button:has-text('Approve')")
    expect(bob.get_by_test_id("pending-approvals")).to_have_text("0")

    # No reload: the order page polls and follows the worker through to the end.
    expect(status).to_have_text("completed", timeout=60_000)
    expect(alice.locator("body")).to_contain_text("203.0.113.")
