"""Single sign-on through a real OpenID Connect provider (django-oauth-toolkit in OIDC mode, run
by the suite as its own process), on the pages: a person who exists only at the provider signs
in from the login page in a real browser, becomes web-shop's manager through the groups claim,
approves, logs out of both, and loses the role when the provider drops the group."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import Browser, expect, sync_playwright

from core.models import ProjectMembership, ProjectRole
from identity.models import DirectoryRoleMapping
from identity.tests.helpers import (
    linux_vm_fixture,  # noqa: F401  (fixture: web-shop may order the linux-vm)
    shop_fixture,  # noqa: F401  (fixture: Acme's web-shop and its people)
    start_provider_fixture,  # noqa: F401  (fixture: the provider)
)
from tests.fixtures import order_via_api, wait_until
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.django_db(transaction=True)

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def chromium() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make test`, which installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _sign_in_at_provider(page, password: str = "olivia-pass-1") -> None:
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.fill("#idp-username", "olivia")
    page.fill("#idp-password", password)
    page.click("button:has-text('Sign in to the provider')")


@pytest.mark.browser
def test_sign_in_approve_and_sign_out_through_the_provider(
    shop, linux_vm, live_server, start_provider, chromium, api_as
):
    provider = start_provider(live_server.url)
    DirectoryRoleMapping.objects.create(
        group="web-shop-managers", project=shop["web_shop"], role=ProjectRole.MANAGER
    )
    page = chromium.new_context(base_url=live_server.url).new_page()
    _sign_in_at_provider(page)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator(".user")).to_contain_text("olivia")
    membership = ProjectMembership.objects.get(user__username="olivia")
    assert (membership.project, membership.role) == (shop["web_shop"], ProjectRole.MANAGER)
    assert membership.user.email == "olivia@example.com"

    # alice orders; olivia approves it as web-shop's manager.
    order = order_via_api(api_as(shop["alice"]), shop)
    assert order.status_code == 201, order.content
    page.goto("/approvals/")
    page.click("td a")
    page.fill("#id_comment", "approved from the directory")
    page.click("button:has-text('Approve')")
    bob = api_as(shop["bob"])  # web-shop's other manager: an approver of the same stage
    wait_until(
        lambda: (
            [
                approval["order"]["id"]
                for approval in bob.get("/api/v1/approvals/?status=approved").json()["results"]
            ]
            == [order.data["id"]]
        ),
        timeout=15,
        what="olivia's approval",
    )

    # The provider drops her from the group. When her session is due for its re-check
    # (CANOPY_OIDC_RECHECK_MINUTES; made due here), the next page goes by the provider
    # silently and she is manager no more, without signing in again.
    provider.remove_from_group("olivia", "web-shop-managers")
    _make_session_due_for_recheck(page)
    page.goto("/dashboard/")
    expect(page).to_have_url(f"{live_server.url}/dashboard/")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert not ProjectMembership.objects.filter(user__username="olivia").exists()
    expect(page.get_by_test_id("pending-approvals")).to_have_text("0")

    # Logging out ends the provider's session too: the next sign-in asks for the password.
    page.click("button:has-text('Log out')")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page.locator("#idp-password")).to_be_visible()


def _make_session_due_for_recheck(page) -> None:
    cookie = next(c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    session = SessionStore(session_key=cookie["value"])
    session["oidc_id_token_expiration"] = 0
    session.save()


@pytest.mark.django_db
def test_the_button_shows_only_when_configured_and_a_refusal_says_so(settings, client):
    assert "Sign in with" not in client.get("/accounts/login/").content.decode()
    settings.CANOPY_OIDC_ISSUER = "http://127.0.0.1:9/o"
    settings.CANOPY_OIDC_NAME = "Acme SSO"
    assert "Sign in with Acme SSO" in client.get("/accounts/login/").content.decode()
    # The provider sends the browser back with an error (the person cancelled, or is disabled).
    answer = client.get("/oidc/callback/?error=access_denied&state=s", follow=True)
    assert answer.redirect_chain[-1][0] == "/accounts/login/"
    assert "Sign-in with Acme SSO failed" in answer.content.decode()
    # A provider that does not answer: back to the login page with the reason, no error page.
    answer = client.get("/oidc/authenticate/", follow=True)
    assert "Acme SSO does not answer" in answer.content.decode()
