"""Lifecycle's factories save idle policies as an admin does: a project's policy beats its
organization's."""

import pytest

from core.tests.factories import ProjectFactory
from lifecycle.selectors.reclaim import idle_policy_for
from lifecycle.tests.factories import IdlePolicyFactory

pytestmark = pytest.mark.django_db


def test_a_projects_idle_policy_beats_its_organizations() -> None:
    project = ProjectFactory()
    neighbour = ProjectFactory(organization=project.organization)
    organization_wide = IdlePolicyFactory(organization=project.organization)
    own = IdlePolicyFactory(organization=None, project=project)
    assert idle_policy_for(project=project) == own
    assert idle_policy_for(project=neighbour) == organization_wide
