from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.costs.api import views

router = SimpleRouter()
router.register("price-points", views.PricePointViewSet, basename="price-point")
router.register("cpu-prices", views.CpuPriceViewSet, basename="cpu-price")
router.register("usage", views.UsageViewSet, basename="usage")
router.register("budgets", views.BudgetViewSet, basename="budget")
urlpatterns = [
    path("costs/summary/", views.CostSummaryView.as_view(), name="cost-summary"),
    path("costs/jobs/<int:job_id>/", views.JobCostView.as_view(), name="job-cost"),
    *router.urls,
]
