from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("", views.chargeback_view, name="chargeback"),
    path("showback/", views.showback_view, name="showback"),
    path("export.csv", views.chargeback_csv, name="chargeback_csv"),
    path("exports/", views.usage_export_start, name="usage_export_start"),
    path("exports/<str:export_id>.csv", views.usage_export_download, name="usage_export_download"),
    path("resources/<int:resource_id>/", views.resource_costs, name="resource_costs"),
    path("budgets/", views.budget_list_view, name="budget_list"),
    path("budgets/new/", views.budget_edit, name="budget_new"),
    path("budgets/<int:budget_id>/", views.budget_edit, name="budget_edit"),
    path("budgets/<int:budget_id>/delete/", views.budget_delete_view, name="budget_delete"),
    path("statements/", views.statement_list_view, name="statement_list"),
    path("statements/<int:statement_id>/", views.statement_detail, name="statement_detail"),
    path(
        "statements/<int:statement_id>.csv",
        views.statement_download,
        {"fmt": "csv"},
        name="statement_csv",
    ),
    path(
        "statements/<int:statement_id>.pdf",
        views.statement_download,
        {"fmt": "pdf"},
        name="statement_pdf",
    ),
]
