from django.urls import path

from identity import views

app_name = "identity"

urlpatterns = [
    path("tokens/", views.token_list_view, name="token_list"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke_view, name="token_revoke"),
    path("service-accounts/", views.service_account_list_view, name="service_account_list"),
    path(
        "service-accounts/<int:account_id>/tokens/",
        views.service_account_token_view,
        name="service_account_token",
    ),
    path(
        "service-accounts/<int:account_id>/disable/",
        views.service_account_disable_view,
        name="service_account_disable",
    ),
]
