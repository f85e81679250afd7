"""The first hour of every persona in a real browser, on one fresh demo (issue 16).

alice searches the catalog, is told why a name is refused, orders two servers and watches them;
bob follows the link printed in his approval email and approves both orders at once; carol
approves the finance stage and changes a budget; alice deletes an order and sees it deleted;
dave cannot see alice's order; admin adds an idle policy and finds the admin in words; and at
a phone's width (390 px) no page scrolls sideways. The worker prints emails with the console
backend, as `make run` does, and derives their links from PORT: the test follows the printed
links.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fixtures import wait_until, worker_process
from tests.test_browser import _login, browser  # noqa: F401  (fixture: headless Chromium)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def printing_worker(demo, live_server, tmp_path: Path) -> Iterator[Path]:
    """A worker that prints its emails, told the portal's address as `make run` tells every
    process (PORT, and CANOPY_BASE_URL derived from it: `make test` exports the default one)."""
    port = live_server.thread.port
    for _worker in worker_process(
        tmp_path,
        PORT=str(port),
        CANOPY_BASE_URL=f"http://127.0.0.1:{port}",
        CANOPY_TEST_EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
    ):
        yield tmp_path / "worker.log"


def _printed_links(log: Path, *, user: str, decision: str) -> list[str]:
    """The approve/reject links of the emails printed for `user` (newest last)."""
    links = []
    for email in log.read_text().split("Subject: ")[1:]:
        if f"Hello {user}," in email:
            links += re.findall(rf"^{decision.capitalize()}:\s+(\S+)$", email, re.MULTILINE)
    return links


def _wait_for_link(log: Path, *, user: str, decision: str, timeout: float = 30) -> str:
    wait_until(
        lambda: _printed_links(log, user=user, decision=decision),
        timeout=timeout,
        what=f"an approval email to {user} in the worker's log",
    )
    return _printed_links(log, user=user, decision=decision)[-1]


def _no_sideways_scroll(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide at {width[1]} px"


def test_every_persona_first_hour(demo, live_server, printing_worker, browser, tmp_path):  # noqa: F811
    base = f"http://127.0.0.1:{live_server.thread.port}"

    # alice: search, a bad name explained, then two orders (one needs finance too).
    alice = _login(browser, base, "alice")
    alice.fill("#id_q", "linux")
    alice.click("button:has-text('Show')")
    expect(alice.locator(".card h3")).to_contain_text(["Linux VM"])
    expect(alice.locator(".card", has_text="Windows VM")).to_have_count(0)
    alice.locator(".card", has_text="Linux VM").get_by_role("link", name="Order").click()
    expect(alice.locator("#id_image option", has_text="Windows")).to_have_count(0)
    alice.fill("#id_name", "Shop Web 1")
    alice.select_option("#id_size", "large")  # a change: the estimate is asked again
    invalid = alice.get_by_test_id("estimate-invalid")
    expect(invalid).to_contain_text("Server name: Use lower-case letters, digits and hyphens")
    expect(alice.get_by_test_id("estimate-price")).to_have_count(0)
    alice.click("button:has-text('Submit order')")
    expect(alice.get_by_test_id("error-name")).to_contain_text("starting with a letter, 2")
    alice.fill("#id_name", "shop-web-1")
    alice.select_option("#id_size", "medium")
    alice.select_option("#id_size", "large")
    expect(alice.get_by_test_id("estimate-price")).to_contain_text("USD")
    alice.click("button:has-text('Submit order')")
    expect(alice).to_have_url(re.compile(r"/orders/\d+/$"))
    large_order = alice.url.rstrip("/").rsplit("/", 1)[-1]
    expect(alice.get_by_test_id("order-status")).to_have_text("pending approval", timeout=30_000)
    alice.goto("/catalog/linux-vm/")
    alice.fill("#id_name", "shop-web-2")
    alice.select_option("#id_size", "small")
    alice.click("button:has-text('Submit order')")
    expect(alice).to_have_url(re.compile(r"/orders/\d+/$"))
    small_order = alice.url.rstrip("/").rsplit("/", 1)[-1]
    status = alice.get_by_test_id("order-status")
    expect(status).to_have_text("pending approval", timeout=30_000)

    # bob: the link printed in his email (to this portal's port), then a bulk approval.
    link = _wait_for_link(printing_worker, user="bob", decision="approve")
    assert link.startswith(f"{base}/approvals/link/"), link
    bob_page = browser.new_context(base_url=base).new_page()
    bob_page.goto(link)
    bob_page.fill("#id_username", "bob")
    bob_page.fill("#id_password", "canopy")
    bob_page.click("button:has-text('Log in')")
    expect(bob_page.locator("body")).to_contain_text("You followed the approve link")
    bob_page.goto("/approvals/")
    bob_page.get_by_test_id(f"pick-{large_order}").check()
    bob_page.get_by_test_id(f"pick-{small_order}").check()
    bob_page.fill("#id_bulk_comment", "both fine for the shop")
    bob_page.get_by_test_id("bulk-approve").click()
    messages = bob_page.locator(".messages")
    expect(messages).to_contain_text(
        f"Order #{large_order}: approved stage 1 of 2, waiting for Finance."
    )
    expect(messages).to_contain_text(f"Order #{small_order} approved.")
    _no_sideways_scroll(_phone(browser, base, "bob", "/approvals/"), tmp_path / "approvals.png")

    # alice's page follows without a reload: status, approval block and audit trail.
    expect(status).to_have_text("completed", timeout=60_000)
    expect(alice.get_by_test_id("audit-trail")).to_contain_text("both fine for the shop")

    # carol: the finance stage from her inbox, and a new amount for web-shop's budget.
    carol = _login(browser, base, "carol")
    carol.goto("/approvals/")
    carol.get_by_test_id(f"approve-{large_order}").click()
    expect(carol.locator(".messages")).to_contain_text(f"Order #{large_order} approved.")
    carol.goto("/costs/budgets/")
    carol.locator("tr", has_text="project web-shop").get_by_role("link", name="Change").click()
    carol.fill("#id_monthly_amount", "480.00")
    carol.click("button:has-text('Save')")
    expect(carol.locator(".messages")).to_contain_text("Budget of project web-shop saved: 480")
    expect(carol.get_by_test_id("budgets")).to_contain_text("480.00")

    # alice deletes the small order: a destroy order (auto-approved by the demo's "Acme
    # deletions"), then the small order reads "deleted", its server's page is history.
    alice.on("dialog", lambda dialog: dialog.accept())
    alice.get_by_test_id("destroy-order").click()
    expect(status).to_have_text("completed", timeout=60_000)  # the destroy order's page
    alice.goto(f"/orders/{small_order}/")
    expect(status).to_have_text("deleted", timeout=60_000)
    expect(alice.get_by_test_id("destroy-order")).to_have_count(0)
    alice.get_by_role("link", name="shop-web-2").click()
    expect(alice.get_by_test_id("resource-deleted")).to_be_visible()
    expect(alice.get_by_role("button", name="Extend")).to_have_count(0)
    expect(alice.get_by_role("button", name="Keep")).to_have_count(0)
    expect(alice.locator("body")).not_to_contain_text("203.0.113.")

    # At a phone's width: the order page, the menu and the order form fit.
    phone = _phone(browser, base, "alice", f"/orders/{large_order}/")
    expect(phone.get_by_test_id("order-status")).to_have_text("completed", timeout=60_000)
    _no_sideways_scroll(phone, tmp_path / "order.png")
    for path in ("/", "/catalog/web-tier/"):
        phone.goto(path)
        _no_sideways_scroll(phone, tmp_path / f"phone{path.replace('/', '-')}.png")

    # dave (data-lab) gets a plain "not found" for alice's order.
    dave = _login(browser, base, "dave")
    dave.goto(f"/orders/{large_order}/")
    expect(dave.get_by_test_id("error-page")).to_contain_text("Page not found")

    # admin: a new idle policy for web-shop from the Leases page, without /admin/.
    admin = _login(browser, base, "admin")
    admin.goto("/lifecycle/")
    admin.get_by_test_id("idle-policy-new").click()
    admin.select_option("#id_scope", f"project-{demo['web_shop'].pk}")
    admin.fill("#id_name", "web-shop nights")
    admin.fill("#id_window", "2 hours")
    admin.click("button:has-text('Save')")
    expect(admin.locator(".messages")).to_contain_text("Idle policy web-shop nights added.")
    expect(admin.locator("body")).to_contain_text("project web-shop")

    # admin: the admin speaks in words and the audit log is read-only.
    admin.goto("/admin/")
    expect(admin.locator("body")).to_contain_text("Scaling policies")
    admin.goto("/admin/core/auditevent/")
    expect(admin.get_by_role("link", name=re.compile("Add audit event"))).to_have_count(0)


def _phone(browser: Browser, base: str, username: str, path: str) -> Page:  # noqa: F811
    page = _login(browser, base, username, viewport=PHONE)
    page.goto(path)
    return page
