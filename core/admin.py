from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from core.models import (
    AuditEvent,
    Organization,
    OrganizationMembership,
    Project,
    ProjectMembership,
)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Project)
class ProjectAdmin(GuardedModelAdmin):
    list_display = ["name", "organization", "cost_center"]


admin.site.register(ProjectMembership)
admin.site.register(OrganizationMembership)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "actor",
        "credential",
        "action",
        "target_type",
        "from_state",
        "to_state",
    ]
    list_filter = ["action"]
    search_fields = ["message", "target_id", "credential"]

    # The audit trail is append-only: Canopy writes it, nobody adds, edits or deletes a line.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
