from rest_framework.routers import SimpleRouter

from apps.jobs.api import views

router = SimpleRouter()
router.register("jobs", views.JobViewSet, basename="job")
router.register("packages", views.CodePackageViewSet, basename="package")
urlpatterns = router.urls
