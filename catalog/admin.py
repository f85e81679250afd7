from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from catalog import templating
from catalog.models import CatalogItem, Category, Order


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    prepopulated_fields = {"slug": ["name"]}


class CatalogItemForm(forms.ModelForm):
    # Plain integers, so the model checks every value (its validator, then both days together);
    # the form's own minimum of 0 would stop a negative one first, with another message, and
    # leave the model comparing the other day with the stored value.
    lease_default_days = forms.IntegerField(required=False)
    lease_max_days = forms.IntegerField(required=False)

    class Meta:
        model = CatalogItem
        fields = [
            "slug",
            "name",
            "category",
            "description",
            "is_active",
            "lease_default_days",
            "lease_max_days",
            "organizations",
            "projects",
            "parameters",
            "resources",
        ]

    def clean(self) -> dict:
        """The same checks as catalog_load, so the admin cannot save a broken template (the
        lease days are checked by the model)."""
        cleaned = super().clean()
        if "parameters" in cleaned and "resources" in cleaned:
            errors = templating.template_errors(cleaned["resources"], cleaned["parameters"])
            if errors:
                raise ValidationError(errors)
            cleaned["parameters"] = templating.with_parameter_order(cleaned["parameters"])
        return cleaned


@admin.register(CatalogItem)
class CatalogItemAdmin(admin.ModelAdmin):
    form = CatalogItemForm
    list_display = ["name", "slug", "category", "is_active"]
    list_filter = ["category", "is_active"]
    filter_horizontal = ["organizations", "projects"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "project", "cloud_account", "requester", "status", "created_at"]
    list_filter = ["status", "project"]
    readonly_fields = ["status"]  # the lifecycle is changed through services only
