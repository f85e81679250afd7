from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.menu, name="menu"),
    path("catalog/<slug:slug>/", views.item_order, name="item_order"),
    path("catalog/<slug:slug>/estimate/", views.item_estimate, name="item_estimate"),
    path("catalog/<slug:slug>/fields/", views.item_fields, name="item_fields"),
    path("orders/", views.order_list_view, name="order_list"),
    path("orders/<int:order_id>/", views.order_detail, name="order_detail"),
    path("orders/<int:order_id>/live/", views.order_live, name="order_live"),
    path("orders/<int:order_id>/cancel/", views.order_cancel_view, name="order_cancel"),
    path("orders/<int:order_id>/destroy/", views.order_destroy_view, name="order_destroy"),
    path(
        "resources/<int:resource_id>/restore/", views.snapshot_restore_view, name="snapshot_restore"
    ),
    path(
        "orders/changes/resources/<int:resource_id>/",
        views.resource_change_view,
        name="resource_change",
    ),
]
