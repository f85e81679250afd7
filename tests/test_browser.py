"""The whole story in a real browser: alice orders, bob approves, a worker provisions it, and
alice's order page turns `completed` by itself (htmx polling, no reload)."""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

import provisioning.selectors as provisioning_selectors
from provisioning.models import CloudAccount
from provisioning.providers.base import SizeInfo

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


def _login(browser: Browser, base_url: str, username: str, **context_options):
    """A new browser context (`context_options`: a viewport…) signed in as `username`."""
    page = browser.new_context(base_url=base_url, **context_options).new_page()
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
    # Submitted, then admitted by the worker: the page follows it without a reload.
    expect(status).to_have_text("pending approval", timeout=30_000)

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


@pytest.fixture
def other_account(demo) -> CloudAccount:
    """Created before the `browser` fixture: once Playwright's loop runs, the ORM would open a
    connection of its own in this thread that nothing closes before the test database goes."""
    other = CloudAccount.objects.create(
        name="other-cloud", organization=demo["web_shop"].organization, provider="sandbox"
    )
    other.projects.set([demo["web_shop"]])
    return other


def test_web_tier_with_dependent_choices_and_live_graph(
    demo, other_account, live_server, celery_worker_process, browser, monkeypatch
):
    """Picking another cloud account narrows the sizes (htmx); the order page then follows the
    deployment graph, step by step, to the end."""
    other = other_account
    real = provisioning_selectors.cloud_account_options

    def options(*, account: CloudAccount, **kwargs) -> dict:
        found = real(account=account, **kwargs)
        return {**found, "sizes": [SizeInfo("xlarge", 8, 32)]} if account == other else found

    monkeypatch.setattr(provisioning_selectors, "cloud_account_options", options)

    alice = _login(browser, live_server.url, "alice")
    alice.locator(".card", has_text="Load-balanced web tier").get_by_role("link").click()
    alice.select_option("#id_cloud_account", label="other-cloud")
    expect(alice.locator("#id_size option")).to_have_text(["xlarge — 8 vCPU, 32 GB RAM"])
    alice.select_option("#id_cloud_account", label="sandbox")
    expect(alice.locator("#id_size option")).to_have_count(3)
    alice.fill("#id_name", "shop")
    alice.fill("#id_instances", "2")
    alice.select_option("#id_size", "small")
    expect(alice.locator("#estimate")).to_contain_text("Estimated monthly cost")
    # The choices' own requests (estimate, narrowed fields) answered first: a submit racing a
    # swap of the fields would post what the page showed a moment before.
    alice.wait_for_function("() => !document.querySelector('.htmx-request')")
    alice.click("button:has-text('Submit order')")
    expect(alice).to_have_url(re.compile(r"/orders/\d+/$"))
    status = alice.get_by_test_id("order-status")
    # Submitted, then admitted by the worker: the page follows it without a reload.
    expect(status).to_have_text("pending approval", timeout=30_000)

    bob = _login(browser, live_server.url, "bob")
    bob.goto("/approvals/")
    bob.click("td a")
    bob.click("button:has-text('Approve')")

    expect(status).to_have_text("completed", timeout=90_000)
    steps = alice.get_by_test_id("deployment-steps").locator("tbody tr")
    expect(steps).to_have_count(7)  # network, 2 servers, 2 volumes, load balancer, DNS
    expect(steps.locator(".status-done")).to_have_count(7)
    expect(alice.locator("body")).to_contain_text("shop-lb")
