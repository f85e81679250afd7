from django.contrib import admin

from billing.models import Rate, RateCard


class RateInline(admin.TabularInline):
    model = Rate


@admin.register(RateCard)
class RateCardAdmin(admin.ModelAdmin):
    list_display = ["name", "cloud_account", "currency"]
    inlines = [RateInline]
