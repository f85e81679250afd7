from django.contrib import admin

from billing.models import (
    BillingProfile,
    Budget,
    BudgetAlert,
    Rate,
    RateCard,
    Statement,
    StatementLine,
    Usage,
)


class RateInline(admin.TabularInline):
    model = Rate
    extra = 1


@admin.register(RateCard)
class RateCardAdmin(admin.ModelAdmin):
    list_display = ["name", "cloud_account", "currency"]
    inlines = [RateInline]


@admin.register(BillingProfile)
class BillingProfileAdmin(admin.ModelAdmin):
    list_display = ["organization", "currency"]


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["__str__", "organization", "monthly_amount", "refuse_orders_over_budget"]
    list_filter = ["organization", "refuse_orders_over_budget"]
    list_select_related = ["project", "organization"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Metered and closed money is never edited by hand: corrections are new rows."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BudgetAlert)
class BudgetAlertAdmin(ReadOnlyAdmin):
    list_display = ["budget", "month", "threshold", "spent", "sent_at"]
    list_select_related = ["budget__project"]


@admin.register(Usage)
class UsageAdmin(ReadOnlyAdmin):
    list_display = ["hour", "resource", "kind", "size", "hours", "cost", "project", "cost_center"]
    list_filter = ["kind", "provider", "organization"]
    date_hierarchy = "hour"
    list_select_related = ["resource", "project"]


class StatementLineInline(admin.TabularInline):
    model = StatementLine
    can_delete = False
    readonly_fields = ["project", "kind", "usage_month", "hours", "cost"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = ["month", "organization", "cost_center", "total", "currency", "closed_at"]
    list_select_related = ["organization"]
    inlines = [StatementLineInline]
