"""Read-only views for staff: rules are changed on the group's page or through the API, where
the services check permissions and audit the change."""

from django.contrib import admin

from autoscaling.models import ScalingActivity, ScalingPolicy, ScalingSchedule


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ScalingPolicy)
class ScalingPolicyAdmin(ReadOnlyAdmin):
    list_display = ["group", "metric", "scale_out_threshold", "scale_in_threshold", "enabled"]
    list_filter = ["metric", "enabled"]


@admin.register(ScalingSchedule)
class ScalingScheduleAdmin(ReadOnlyAdmin):
    list_display = ["group", "name", "start", "end", "timezone", "desired", "enabled"]


@admin.register(ScalingActivity)
class ScalingActivityAdmin(ReadOnlyAdmin):
    list_display = ["group", "at", "from_count", "to_count", "status", "cause"]
    list_filter = ["status"]
