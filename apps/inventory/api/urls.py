from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.inventory.api import views
from apps.inventory.api.agent import AgentReportView

router = SimpleRouter()
router.register("clusters", views.ClusterViewSet, basename="cluster")
router.register("nodes", views.NodeViewSet, basename="node")
router.register("accelerators", views.AcceleratorViewSet, basename="accelerator")
router.register("accelerator-models", views.AcceleratorModelViewSet, basename="accelerator-model")
router.register("network-fabrics", views.NetworkFabricViewSet, basename="network-fabric")
router.register("storage-backends", views.StorageBackendViewSet, basename="storage-backend")
urlpatterns = router.urls
urlpatterns = [*urlpatterns, path("agent/reports/", AgentReportView.as_view(), name="agent-report")]
