"""REST API v1: one router for every app's viewsets."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from approvals.api.views import ApprovalViewSet
from catalog.api.views import CatalogItemViewSet, OrderViewSet
from portal.api.views import ProjectViewSet, TokenView
from provisioning.api.views import ResourceViewSet

router = DefaultRouter()
router.register("catalog/items", CatalogItemViewSet, basename="catalog-item")
router.register("projects", ProjectViewSet, basename="project")
router.register("orders", OrderViewSet, basename="order")
router.register("approvals", ApprovalViewSet, basename="approval")
router.register("resources", ResourceViewSet, basename="resource")

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    *router.urls,
]
