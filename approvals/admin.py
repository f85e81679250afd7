from django.contrib import admin

from approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalStage,
    Delegation,
    PolicyStage,
    Quota,
    QuotaEntry,
)


class PolicyStageInline(admin.TabularInline):
    model = PolicyStage
    extra = 1
    ordering = ["position"]


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "is_active",
        "organization",
        "project",
        "catalog_item",
        "category",
        "order_kinds",
        "max_cost_delta",
        "auto_approve_below",
    ]
    list_filter = ["is_active", "organization"]
    inlines = [PolicyStageInline]


class ApprovalStageInline(admin.TabularInline):
    model = ApprovalStage
    extra = 0
    fields = ["position", "name", "role", "mode", "status", "opened_at", "due_at", "escalations"]
    readonly_fields = fields
    can_delete = False


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    list_display = ["order", "status", "policy_name", "current_stage", "decided_by", "decided_at"]
    list_filter = ["status"]
    readonly_fields = ["status", "current_stage"]
    inlines = [ApprovalStageInline]


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(admin.ModelAdmin):
    list_display = ["stage", "user", "on_behalf_of", "approve", "at"]


@admin.register(Delegation)
class DelegationAdmin(admin.ModelAdmin):
    list_display = ["delegator", "delegate", "starts_on", "ends_on"]


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "max_servers",
        "max_vcpus",
        "max_ram_gb",
        "max_storage_gb",
        "max_monthly_cost",
    ]


@admin.register(QuotaEntry)
class QuotaEntryAdmin(admin.ModelAdmin):
    list_display = ["order", "resource", "status", "servers", "vcpus", "ram_gb", "storage_gb"]
    list_filter = ["status", "project"]
    readonly_fields = [f.name for f in QuotaEntry._meta.fields]
