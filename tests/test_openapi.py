"""The OpenAPI schema checked against the running API: no 5xx, responses match the schema."""

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from identity.services import api_token_issue
from portal.wsgi import application

# Loading the schema needs no database: drf-spectacular builds it from the code.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def token(demo) -> Iterator[str]:
    # Like Django's test client: keep the test's connection open across WSGI requests.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield api_token_issue(user=demo["alice"], created_by=demo["alice"], name="schemathesis").key
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_matches_its_schema(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
