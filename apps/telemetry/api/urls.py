from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.telemetry.api import views

router = SimpleRouter()
router.register("idle-gpus", views.IdleGpuViewSet, basename="idle-gpu")
router.register("node-network", views.NodeNetworkViewSet, basename="node-network")

urlpatterns = [
    path(
        "jobs/<int:pk>/gpu-series/",
        views.JobGpuSeriesViewSet.as_view({"get": "retrieve"}),
        name="job-gpu-series",
    ),
    *router.urls,
]
