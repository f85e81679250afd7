"""Passwords follow Django's four rules (the validators in the settings)."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from identity.tests.helpers import (
    people_fixture,  # noqa: F401  (fixture: alice, bob and an admin who sign in)
)


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
