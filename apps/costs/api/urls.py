from rest_framework.routers import SimpleRouter

from apps.costs.api import views

router = SimpleRouter()
router.register("price-points", views.PricePointViewSet, basename="price-point")
urlpatterns = router.urls
