"""The portal's own pages satisfy its Content-Security-Policy (scripts and styles from files
only) in a real browser: htmx, the inline SVG charts, the admin and Swagger UI at /api/docs/.

The CSP is the same whatever DEBUG says (and pytest-django serves with DEBUG off, as production
does); the HTTPS-only parts are tested in test_production_settings."""

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.fixtures import order_via_api
from tests.test_browser import browser  # noqa: F401  (fixture: headless Chromium)

pytestmark = pytest.mark.browser

PAGES = [
    "/",
    "/catalog/linux-vm/",
    "/orders/",
    "/approvals/",
    "/approvals/delegations/",
    "/resources/",
    "/resources/capabilities/",
    "/lifecycle/",
    "/costs/",
    "/costs/budgets/",
    "/costs/statements/",
    "/dashboard/",
    "/notifications/",
    "/admin/",
    "/admin/approvals/approvalpolicy/",
    "/admin/approvals/approvalpolicy/add/",
    "/admin/axes/accessattempt/",
]


@pytest.fixture
def order_id(demo, api_as) -> int:
    """alice's order, so that an order page (polling with htmx) is among the pages. Created
    before the `browser` fixture: the ORM must not open connections in Playwright's thread."""
    answer = order_via_api(api_as(demo["alice"]), demo)
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


def test_the_pages_load_without_csp_violations(demo, order_id, live_server, browser: Browser):  # noqa: F811
    context = browser.new_context(base_url=live_server.url)
    violations: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(f"{message.page.url if message.page else '?'}: {message.text}")

    context.on("console", watch)
    page = context.new_page()
    login = page.goto("/accounts/login/")
    assert "script-src 'self'" in login.headers["content-security-policy"]
    page.fill("#id_username", "admin")
    page.fill("#id_password", "canopy")
    page.click("button:has-text('Log in')")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    for path in [*PAGES, f"/orders/{order_id}/"]:
        response = page.goto(path)
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")

    # htmx works: the estimate follows the size picked.
    page.goto("/catalog/linux-vm/")
    page.fill("#id_name", "csp-1")
    page.select_option("#id_size", "medium")
    expect(page.locator("#estimate")).to_contain_text("29.20")

    # Swagger UI starts (its script is a file) and renders the schema.
    page.goto("/api/docs/")
    # (The schema of some 80 operations takes a few seconds to build on a busy machine.)
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Canopy API", timeout=60_000)
    expect(page.locator(".opblock").first).to_be_visible()

    context.close()
    assert violations == []
