from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from mozilla_django_oidc.views import OIDCLogoutView

from core.views import audit_list_view, notification_list_view, notifications_read_view
from portal import dashboard_views

urlpatterns = [
    path("admin/", admin.site.urls),
    # Pages that do not link the icon (admin, API docs) still get it, not a 404 per visit.
    path("favicon.ico", dashboard_views.favicon_view),
    # Ends the portal session, and the OIDC provider's when the person signed in through it.
    path("accounts/logout/", OIDCLogoutView.as_view(), name="logout"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("account/", include("identity.urls")),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("approvals/", include("approvals.urls")),
    path("dashboard/", dashboard_views.dashboard_view, name="dashboard"),
    path("dashboard/live/", dashboard_views.dashboard_live, name="dashboard_live"),
    path("metrics", dashboard_views.metrics_view, name="metrics"),
    path("health/", dashboard_views.health_view, name="health"),
    path(
        "resources/<int:resource_id>/metrics/",
        dashboard_views.resource_metrics_view,
        name="resource_metrics",
    ),
    path("notifications/", notification_list_view, name="notifications"),
    path("audit/", audit_list_view, name="audit"),
    path("notifications/read/", notifications_read_view, name="notifications_read"),
    path("resources/", include("provisioning.urls")),
    path("costs/", include("billing.urls")),
    path("lifecycle/", include("lifecycle.urls")),
    path("autoscaling/", include("autoscaling.urls")),
    path("", include("catalog.urls")),
    path("api/v1/", include("portal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file, as the CSP requires.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="portal/swagger_ui.html"
        ),
        name="api-docs",
    ),
]
