"""Sign-in under attack through the API: repeated wrong passwords lock the token endpoint
(django-axes), and the API throttles clients (429 with Retry-After)."""

from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from identity.tests.helpers import (
    GUESSES,
    assert_locked,
    let_the_cool_off_pass,
    people_fixture,  # noqa: F401  (fixture: alice, bob and an admin who sign in)
)


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
    assert_locked(right)
    assert "locked until" in right.json()["detail"]
    assert "token" not in right.json()

    let_the_cool_off_pass()
    after = api.post("/api/v1/auth/token/", {"username": "bob", "password": "canopy"})
    assert after.status_code == 200, after.content


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
