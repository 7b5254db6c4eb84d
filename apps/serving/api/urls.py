from rest_framework.routers import SimpleRouter

from apps.serving.api import views

router = SimpleRouter()
router.register("endpoints", views.EndpointViewSet, basename="endpoint")

urlpatterns = [*router.urls]
