"""`manage.py directory_roles_load`: the group → role mapping's YAML loader lists every problem
of a broken file and writes nothing."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.models import OrganizationRole
from identity.models import DirectoryRoleMapping
from identity.tests.helpers import acme_fixture  # noqa: F401  (fixture: Acme's projects and people)

pytestmark = pytest.mark.django_db


def test_a_broken_mapping_file_lists_every_problem_and_writes_nothing(acme, tmp_path: Path):
    DirectoryRoleMapping.objects.create(
        group="kept", organization=acme["web_shop"].organization, role=OrganizationRole.FINANCE
    )
    roles = tmp_path / "roles.yaml"
    roles.write_text(
        "roles:\n"
        "  - {group: a, project: acme/nowhere, role: member}\n"
        "  - {group: b, organization: acme, role: manager}\n"
        "  - {group: c, role: member}\n"
        "  - {role: member, project: acme/web-shop}\n"
    )
    with pytest.raises(CommandError) as error:
        call_command("directory_roles_load", str(roles))
    message = str(error.value)
    assert "entry 1: no project acme/nowhere" in message
    assert "entry 2: An organization role is one of: Finance, Organization admin." in message
    assert "entry 3: Choose either a project or an organization." in message
    assert "entry 4: needs a group and a role" in message
    assert list(DirectoryRoleMapping.objects.values_list("group", flat=True)) == ["kept"]
