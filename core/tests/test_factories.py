"""The ground's factories give people the permissions their roles grant, as the services do."""

import pytest

from core.tests.factories import ProjectFactory, UserFactory, finance_of


@pytest.mark.django_db
def test_roles_from_factories_grant_the_products_permissions() -> None:
    member, manager, outsider = UserFactory(), UserFactory(), UserFactory()
    project = ProjectFactory(members=[member], managers=[manager])
    accountant = finance_of(project.organization)

    assert member.has_perm("core.order_in_project", project)
    assert not member.has_perm("core.approve_for_project", project)
    assert manager.has_perm("core.approve_for_project", project)
    assert accountant.has_perm("core.view_project_costs", project)
    assert not outsider.has_perm("core.order_in_project", project)
