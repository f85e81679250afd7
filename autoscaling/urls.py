from django.urls import path

from autoscaling import views

app_name = "autoscaling"

urlpatterns = [
    path("groups/<int:group_id>/panel/", views.scaling_panel, name="panel"),
]
for kind, plural in [("policy", "policies"), ("schedule", "schedules")]:
    urlpatterns += [
        path(
            f"groups/<int:group_id>/{plural}/new/",
            views.rule_edit,
            {"kind": kind},
            name=f"{kind}_new",
        ),
        path(
            f"groups/<int:group_id>/{plural}/<int:rule_id>/",
            views.rule_edit,
            {"kind": kind},
            name=f"{kind}_edit",
        ),
        path(
            f"groups/<int:group_id>/{plural}/<int:rule_id>/delete/",
            views.rule_delete,
            {"kind": kind},
            name=f"{kind}_delete",
        ),
    ]
