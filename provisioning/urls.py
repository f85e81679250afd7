from django.urls import path

from provisioning import views

app_name = "provisioning"

urlpatterns = [
    path("", views.resource_list_view, name="resource_list"),
    path("capabilities/", views.capabilities, name="capabilities"),
    path("<int:resource_id>/", views.resource_detail, name="resource_detail"),
    path("<int:resource_id>/live/", views.resource_live, name="resource_live"),
    path("<int:resource_id>/secret/", views.resource_secret_view, name="resource_secret"),
]
