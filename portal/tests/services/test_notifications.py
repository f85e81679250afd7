"""Notifications from approvals' escalation (`approval_escalate_overdue`): the new approvers
hear of an overdue order."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.services.escalation import approval_escalate_overdue
from core.models import Notification, OrganizationRole
from core.services import organization_membership_add
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_escalation_notifies_the_new_approvers(demo, api_as, django_user_model):
    olga = django_user_model.objects.create_user("olga", "olga@acme.example", "pw")
    organization_membership_add(
        user=olga, organization=demo["web_shop"].organization, role=OrganizationRole.ADMIN
    )
    order_via_api(api_as(demo["alice"]), demo)
    approval_escalate_overdue(now=timezone.now() + timedelta(days=3))
    assert Notification.objects.filter(user=olga, subject__startswith="Approval needed").exists()
