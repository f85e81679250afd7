from django.contrib import admin

from approvals.models import ApprovalRequest


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    list_display = ["order", "status", "decided_by", "decided_at"]
    readonly_fields = ["status"]
