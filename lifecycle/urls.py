from django.urls import path

from lifecycle import views

app_name = "lifecycle"

urlpatterns = [
    path("", views.index, name="index"),
    path("idle-policies/new/", views.idle_policy_new, name="idle_policy_new"),
    path("idle-policies/<int:policy_id>/", views.idle_policy_edit, name="idle_policy_edit"),
    path(
        "idle-policies/<int:policy_id>/delete/",
        views.idle_policy_delete_view,
        name="idle_policy_delete",
    ),
    path("leases/<int:lease_id>/extend/", views.lease_extend_view, name="lease_extend"),
    path("leases/<int:lease_id>/unretire/", views.lease_unretire_view, name="lease_unretire"),
    path("resources/<int:resource_id>/keep/", views.resource_keep_view, name="resource_keep"),
    path("adopt/", views.adoption_view, name="adoption"),
    path("preview/", views.reclaim_preview_view, name="preview"),
]
