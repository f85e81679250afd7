"""Sign-in under attack on the pages: repeated wrong passwords lock the account (django-axes) on
the HTML login and the admin's; the lock is visible to admins, who can lift it."""

from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

from identity.tests.helpers import (
    GUESSES,
    assert_locked,
    let_the_cool_off_pass,
    people_fixture,  # noqa: F401  (fixture: alice, bob and an admin who sign in)
)


def test_fifty_wrong_passwords_lock_the_html_login_until_the_cool_off(people):
    browser = Client()
    answers = [
        browser.post("/accounts/login/", {"username": "alice", "password": f"guess-{n}"})
        for n in range(GUESSES)
    ]
    # Wrong passwords get the form again until the limit, then the lockout page.
    assert [a.status_code for a in answers[: settings.AXES_FAILURE_LIMIT - 1]] == [200] * (
        settings.AXES_FAILURE_LIMIT - 1
    )
    assert {a.status_code for a in answers[settings.AXES_FAILURE_LIMIT :]} == {429}

    right = browser.post("/accounts/login/", {"username": "alice", "password": "canopy"})
    assert_locked(right)
    page = right.content.decode()
    assert "Account locked" in page and "locked until" in page and "UTC" in page
    assert "_auth_user_id" not in browser.session

    let_the_cool_off_pass()
    after = browser.post("/accounts/login/", {"username": "alice", "password": "canopy"})
    assert after.status_code == 302 and browser.session["_auth_user_id"] == str(people["alice"].pk)


def test_the_lockout_is_visible_to_admins_who_can_lift_it(people):
    browser = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        browser.post("/accounts/login/", {"username": "alice", "password": f"guess-{n}"})
    assert_locked(browser.post("/accounts/login/", {"username": "alice", "password": "canopy"}))

    admin = Client()
    admin.force_login(people["admin"])
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="alice")
    assert attempt.failures_since_start == settings.AXES_FAILURE_LIMIT
    # The admin deletes the attempt (admin → Axes → Access attempts → delete): the lock lifts.
    admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert not AccessAttempt.objects.exists()
    after = browser.post("/accounts/login/", {"username": "alice", "password": "canopy"})
    assert after.status_code == 302


def test_the_admin_login_locks_too(people):
    browser = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        browser.post("/admin/login/", {"username": "admin", "password": f"guess-{n}"})
    right = browser.post("/admin/login/", {"username": "admin", "password": "canopy"})
    assert_locked(right)
    assert "_auth_user_id" not in browser.session
