from django.contrib import admin
from rest_framework.authtoken.models import TokenProxy

from identity.models import ApiToken, DirectoryIdentity, DirectoryRoleMapping, ServiceAccount

# Canopy's API tokens replace DRF's (which never expire); its admin page would only confuse.
admin.site.unregister(TokenProxy)


@admin.register(DirectoryRoleMapping)
class DirectoryRoleMappingAdmin(admin.ModelAdmin):
    list_display = ["group", "role", "project", "organization"]
    search_fields = ["group"]


@admin.register(DirectoryIdentity)
class DirectoryIdentityAdmin(admin.ModelAdmin):
    list_display = ["user", "source", "subject", "synced_at"]
    list_filter = ["source"]
    readonly_fields = ["user", "source", "subject", "groups", "synced_at"]


@admin.register(ServiceAccount)
class ServiceAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "role", "user", "created_by", "created_at"]
    readonly_fields = ["user", "created_by"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read-only: tokens are created and revoked by their owners (API tokens page, API)."""

    list_display = ["name", "user", "prefix", "read_only", "expires_at", "revoked_at"]
    list_filter = ["read_only"]
    exclude = ["digest"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
