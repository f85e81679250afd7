from rest_framework.routers import SimpleRouter

from autoscaling.api.views import (
    ScalingActivityViewSet,
    ScalingPolicyViewSet,
    ScalingScheduleViewSet,
)

router = SimpleRouter()
router.register("scaling-policies", ScalingPolicyViewSet, basename="scaling-policy")
router.register("scaling-schedules", ScalingScheduleViewSet, basename="scaling-schedule")
router.register("scaling-activities", ScalingActivityViewSet, basename="scaling-activity")

urlpatterns = router.urls
