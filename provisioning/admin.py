from django.contrib import admin

from provisioning.models import CloudAccount, Resource, Step


@admin.register(CloudAccount)
class CloudAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "organization", "region"]
    filter_horizontal = ["projects"]


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "project", "state", "external_id"]
    list_filter = ["state", "kind"]
    readonly_fields = ["state"]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["resource", "action", "state", "attempts", "created_at"]
    readonly_fields = ["state"]
