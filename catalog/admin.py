from django.contrib import admin

from catalog.models import CatalogItem, Category, Order


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    prepopulated_fields = {"slug": ["name"]}


@admin.register(CatalogItem)
class CatalogItemAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "category", "is_active"]
    list_filter = ["category", "is_active"]
    filter_horizontal = ["projects"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "project", "requester", "status", "created_at"]
    list_filter = ["status", "project"]
    readonly_fields = ["status"]  # the lifecycle is changed through services only
