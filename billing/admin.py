from django import forms
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
from billing.services.rates import rate_problems


class RateForm(forms.ModelForm):
    """A new rate (a new version of a price): its kind, size and date are checked."""

    parent_card: RateCard | None = None  # set by RateInline for the card being edited

    class Meta:
        model = Rate
        fields = ["resource_kind", "size", "unit", "price", "effective_from"]

    def clean(self) -> dict:
        data = super().clean()
        card = self.instance.rate_card if self.instance.rate_card_id else self.parent_card
        if {"resource_kind", "effective_from"} <= data.keys():
            for field, messages in rate_problems(
                rate_card=card,
                resource_kind=data["resource_kind"],
                size=data.get("size", ""),
                effective_from=data["effective_from"],
            ).items():
                for message in messages:
                    self.add_error(field, message)
        return data


class RateInline(admin.TabularInline):
    """The card's price history: every version stays as it was (a change is a new rate from a
    date); the newest version valid on a day prices that day."""

    model = Rate
    form = RateForm
    extra = 1
    verbose_name = "rate version"
    verbose_name_plural = "rates (every version, newest first per kind, size and unit)"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.parent_card = obj  # a new card's rates are checked against it
        return formset

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # existing versions are read-only: old months keep their prices

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RateCard)
class RateCardAdmin(admin.ModelAdmin):
    list_display = ["name", "cloud_account", "organization", "currency", "is_draft"]
    list_filter = ["is_draft", "organization"]
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
