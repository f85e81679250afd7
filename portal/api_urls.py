"""REST API v1: one router for every app's viewsets."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from approvals.api.views import (
    ApprovalViewSet,
    DelegationViewSet,
    PolicyViewSet,
    ProjectQuotaView,
    QuotaViewSet,
)
from billing.api.views import BudgetViewSet, ChargebackView, ShowbackView, UsageExportView
from catalog.api.views import (
    CatalogItemViewSet,
    OrderDestroyView,
    OrderViewSet,
    ResourceActionView,
    SnapshotRestoreView,
)
from core.api.audit import AuditEventViewSet
from core.api.notifications import NotificationViewSet
from core.api.views import ProjectViewSet
from identity.api.views import (
    ApiTokenViewSet,
    DirectoryRoleMappingViewSet,
    ServiceAccountViewSet,
    TokenView,
)
from portal.api.dashboard import DashboardView, ResourceMetricsView
from provisioning.api.views import CloudAccountViewSet, ResourceViewSet

router = DefaultRouter()
router.register("catalog/items", CatalogItemViewSet, basename="catalog-item")
router.register("projects", ProjectViewSet, basename="project")
router.register("orders", OrderViewSet, basename="order")
router.register("approvals", ApprovalViewSet, basename="approval")
router.register("approvals/delegations", DelegationViewSet, basename="delegation")
router.register("policies", PolicyViewSet, basename="policy")
router.register("quotas", QuotaViewSet, basename="quota")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("audit", AuditEventViewSet, basename="audit-event")
router.register("resources", ResourceViewSet, basename="resource")
router.register("budgets", BudgetViewSet, basename="budget")
router.register("cloud-accounts", CloudAccountViewSet, basename="cloud-account")
router.register("tokens", ApiTokenViewSet, basename="api-token-manage")
router.register("service-accounts", ServiceAccountViewSet, basename="service-account")
router.register(
    "directory-role-mappings", DirectoryRoleMappingViewSet, basename="directory-role-mapping"
)

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("orders/<int:pk>/destroy/", OrderDestroyView.as_view(), name="order-destroy"),
    path("resources/<int:pk>/restore/", SnapshotRestoreView.as_view(), name="snapshot-restore"),
    path("resources/<int:pk>/actions/", ResourceActionView.as_view(), name="resource-actions"),
    path("chargeback/", ChargebackView.as_view(), name="chargeback"),
    path("chargeback/exports/", UsageExportView.as_view(), name="usage-export"),
    path("showback/", ShowbackView.as_view(), name="showback"),
    path("dashboard/", DashboardView.as_view(), name="api-dashboard"),
    path(
        "resources/<int:resource_id>/metrics/",
        ResourceMetricsView.as_view(),
        name="api-resource-metrics",
    ),
    path("projects/<int:project_id>/quota/", ProjectQuotaView.as_view(), name="project-quota"),
    path("", include("lifecycle.api.urls")),
    path("", include("autoscaling.api.urls")),
    *router.urls,
]
