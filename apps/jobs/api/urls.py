from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.jobs.api import views

router = SimpleRouter()
router.register("jobs", views.JobViewSet, basename="job")
router.register("packages", views.CodePackageViewSet, basename="package")
urlpatterns = [
    path("job-packages/<str:sha256>/", views.JobPackageView.as_view(), name="job-package"),
    path("nodes/<int:node_id>/jobs/", views.NodeAttemptViewSet.as_view({"get": "list"}), name="node-jobs"),
    *router.urls,
]
