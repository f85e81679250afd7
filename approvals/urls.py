from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("", views.approval_list_view, name="approval_list"),
    path("<int:approval_id>/", views.approval_detail, name="approval_detail"),
    path("<int:approval_id>/decide/", views.approval_decide_view, name="approval_decide"),
    path("decide/", views.approval_decide_many_view, name="approval_decide_many"),
    path("link/<str:token>/", views.approval_link, name="approval_link"),
    path("delegations/", views.delegation_list_view, name="delegation_list"),
    path("quotas/", views.quota_list_view, name="quota_list"),
    path("quotas/<int:project_id>/", views.quota_edit, name="quota_edit"),
    path(
        "delegations/<int:delegation_id>/delete/",
        views.delegation_delete_view,
        name="delegation_delete",
    ),
]
