"""identity's factories build what the services would: a usable token and role mappings."""

import pytest

from identity.models import ApiToken
from identity.services import api_token_digest
from identity.tests.factories import (
    ApiTokenFactory,
    OrganizationRoleMappingFactory,
    ProjectRoleMappingFactory,
)

pytestmark = pytest.mark.django_db


def test_an_issued_token_authenticates_its_user(client):
    issued = ApiTokenFactory(read_only=True)
    assert ApiToken.objects.get(digest=api_token_digest(issued.key)).read_only
    answer = client.get("/api/v1/orders/", HTTP_AUTHORIZATION=f"Token {issued.key}")
    assert answer.status_code == 200


def test_mappings_name_a_project_or_an_organization():
    project_mapping, org_mapping = ProjectRoleMappingFactory(), OrganizationRoleMappingFactory()
    assert project_mapping.project and not project_mapping.organization
    assert org_mapping.organization and not org_mapping.project
