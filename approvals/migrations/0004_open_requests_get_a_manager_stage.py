"""Approval requests opened before policies existed get the stage they implicitly had (a
manager of the project decides), so pending orders can still be decided."""

from django.db import migrations
from django.utils import timezone


def add_manager_stage(apps, schema_editor):
    ApprovalRequest = apps.get_model("approvals", "ApprovalRequest")
    ApprovalStage = apps.get_model("approvals", "ApprovalStage")
    ApprovalDecision = apps.get_model("approvals", "ApprovalDecision")
    UserObjectPermission = apps.get_model("guardian", "UserObjectPermission")
    for request in ApprovalRequest.objects.filter(stages__isnull=True).select_related("order"):
        pending = request.status == "pending"
        stage = ApprovalStage.objects.create(
            request=request,
            position=1,
            name="Manager",
            role="project_manager",
            status="pending" if pending else request.status,
            opened_at=request.created_at or timezone.now(),
        )
        managers = UserObjectPermission.objects.filter(
            permission__codename="approve_for_project",
            permission__content_type__app_label="portal",
            permission__content_type__model="project",
            object_pk=str(request.order.project_id),
        ).exclude(user_id=request.order.requester_id)
        stage.approvers.set(managers.values_list("user_id", flat=True))
        if request.decided_by_id:
            ApprovalDecision.objects.create(
                stage=stage,
                user_id=request.decided_by_id,
                approve=request.status == "approved",
                comment=request.comment,
            )
        request.current_stage = stage
        request.policy_name = "Default"
        request.save(update_fields=["current_stage", "policy_name"])


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0003_policies_stages_quotas"),
        ("guardian", "0002_generic_permissions_index"),
    ]

    operations = [migrations.RunPython(add_manager_stage, migrations.RunPython.noop)]
