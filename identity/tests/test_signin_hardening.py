"""Sign-in under attack: repeated wrong passwords lock the account (django-axes) on the HTML
login, the admin's and the API token endpoint; the lock is visible to admins, who can lift it;
the API throttles clients (429 with Retry-After); passwords follow Django's four rules."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import F
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from core.tests.factories import UserFactory

GUESSES = 50
COOL_OFF_SECONDS = settings.AXES_COOLOFF_TIME.total_seconds()


@pytest.fixture
def people(db) -> dict[str, User]:
    """alice and bob, who sign in with "canopy", and an administrator with the same password."""
    return {
        "alice": UserFactory(username="alice", password="canopy"),
        "bob": UserFactory(username="bob", password="canopy"),
        "admin": UserFactory(username="admin", password="canopy", is_staff=True, is_superuser=True),
    }


def _let_the_cool_off_pass() -> None:
    """As if the cool-off had passed since every failed attempt."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )


def _assert_locked(answer) -> None:
    assert answer.status_code == 429
    assert 0 < int(answer["Retry-After"]) <= COOL_OFF_SECONDS


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
    _assert_locked(right)
    page = right.content.decode()
    assert "Account locked" in page and "locked until" in page and "UTC" in page
    assert "_auth_user_id" not in browser.session

    _let_the_cool_off_pass()
    after = browser.post("/accounts/login/", {"username": "alice", "password": "canopy"})
    assert after.status_code == 302 and browser.session["_auth_user_id"] == str(people["alice"].pk)


def test_the_lockout_is_visible_to_admins_who_can_lift_it(people):
    browser = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        browser.post("/accounts/login/", {"username": "alice", "password": f"guess-{n}"})
    _assert_locked(browser.post("/accounts/login/", {"username": "alice", "password": "canopy"}))

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


def test_fifty_wrong_passwords_lock_the_api_token_endpoint(people):
    api = APIClient()
    statuses = [
        api.post(
            "/api/v1/auth/token/", {"username": "bob", "password": f"guess-{n}"}, format="json"
        ).status_code
        for n in range(GUESSES)
    ]
    assert statuses[: settings.AXES_FAILURE_LIMIT - 1] == [400] * (settings.AXES_FAILURE_LIMIT - 1)
    assert set(statuses[settings.AXES_FAILURE_LIMIT :]) == {429}

    right = api.post("/api/v1/auth/token/", {"username": "bob", "password": "canopy"})
    _assert_locked(right)
    assert "locked until" in right.json()["detail"]
    assert "token" not in right.json()

    _let_the_cool_off_pass()
    after = api.post("/api/v1/auth/token/", {"username": "bob", "password": "canopy"})
    assert after.status_code == 200, after.content


def test_the_admin_login_locks_too(people):
    browser = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        browser.post("/admin/login/", {"username": "admin", "password": f"guess-{n}"})
    right = browser.post("/admin/login/", {"username": "admin", "password": "canopy"})
    _assert_locked(right)
    assert "_auth_user_id" not in browser.session


def test_the_api_throttles_a_busy_user_with_retry_after(people, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})
    cache.delete(f"throttle_user_{people['alice'].pk}")  # requests of earlier tests
    api = APIClient()
    api.force_authenticate(people["alice"])
    statuses = [api.get("/api/v1/projects/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = api.get("/api/v1/projects/")
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"].lower()


def test_the_api_throttles_anonymous_clients(people, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/minute"})
    cache.delete("throttle_anon_127.0.0.1")
    api = APIClient()
    statuses = [
        api.post("/api/v1/auth/token/", {"username": "nobody", "password": "x"}).status_code
        for _ in range(3)
    ]
    assert statuses == [400, 400, 429]


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Xq7!", "too short"),
        ("password123", "too common"),
        ("4815162342", "entirely numeric"),
        ("alice.example", "too similar"),
    ],
)
def test_passwords_follow_the_four_standard_rules(people, password, rule):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, people["alice"])
    assert rule in " ".join(refused.value.messages)


def test_a_strong_password_passes(people):
    validate_password("plum-orbit-Vessel-42", people["alice"])
