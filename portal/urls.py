from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from portal.notifications_views import notification_list_view, notifications_read_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("approvals/", include("approvals.urls")),
    path("notifications/", notification_list_view, name="notifications"),
    path("notifications/read/", notifications_read_view, name="notifications_read"),
    path("resources/", include("provisioning.urls")),
    path("costs/", include("billing.urls")),
    path("lifecycle/", include("lifecycle.urls")),
    path("autoscaling/", include("autoscaling.urls")),
    path("", include("catalog.urls")),
    path("api/v1/", include("portal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
