from django.urls import path
from rest_framework.routers import SimpleRouter

from lifecycle.api import views

router = SimpleRouter()
router.register("leases", views.LeaseViewSet, basename="lease")
router.register("idle-policies", views.IdlePolicyViewSet, basename="idle-policy")
router.register("reclaim-cases", views.ReclaimCaseViewSet, basename="reclaim-case")
router.register("resource-keeps", views.ResourceKeepViewSet, basename="resource-keep")
router.register("adoptable-servers", views.AdoptableServerViewSet, basename="adoptable-server")

urlpatterns = [
    path("savings/", views.SavingsView.as_view(), name="savings"),
    path("reclaim-preview/", views.ReclaimPreviewView.as_view(), name="reclaim-preview"),
    *router.urls,
]
