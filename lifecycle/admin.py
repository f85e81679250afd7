from django.contrib import admin

from lifecycle.models import IdlePolicy, Lease, ReclaimCase, ResourceKeep, Saving
from lifecycle.services.reclaim import idle_policy_save


@admin.register(IdlePolicy)
class IdlePolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "project", *IdlePolicy.SETTINGS[1:]]  # name first
    list_filter = ["enabled", "organization"]

    def save_model(self, request, obj, form, change) -> None:
        """Through the service: the same checks, and an audit event."""
        idle_policy_save(user=request.user, policy=obj, fields={})


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written by policies and services only; the admin lists them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Lease)
class LeaseAdmin(ReadOnlyAdmin):
    list_display = ["order", "state", "starts_at", "expires_at", "delete_at", "warnings_sent"]
    list_filter = ["state"]


@admin.register(ReclaimCase)
class ReclaimCaseAdmin(ReadOnlyAdmin):
    list_display = ["resource", "policy", "grade", "opened_at", "graded_at", "closed_at"]
    list_filter = ["grade", "policy"]


@admin.register(ResourceKeep)
class ResourceKeepAdmin(ReadOnlyAdmin):
    list_display = ["resource", "reason", "user", "created_at"]


@admin.register(Saving)
class SavingAdmin(ReadOnlyAdmin):
    list_display = ["resource", "project", "cost_center", "source", "action", "hourly"]
    list_filter = ["source", "action", "cost_center"]
