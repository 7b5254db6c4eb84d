from rest_framework.routers import SimpleRouter

from apps.admission.api import views

router = SimpleRouter()
router.register("pools", views.PoolViewSet, basename="pool")
router.register("quotas", views.QuotaViewSet, basename="quota")
router.register("cohorts", views.CohortViewSet, basename="cohort")
router.register("team-policies", views.TeamPolicyViewSet, basename="team-policy")
router.register("priority-classes", views.PriorityClassViewSet, basename="priority-class")
router.register("queue", views.QueueViewSet, basename="queue")
urlpatterns = router.urls
