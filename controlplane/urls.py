"""Top-level routes: the API, its schema and docs, the admin, health, metrics and the SPA."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from apps.core import views as core_views
from apps.tenancy.admin_login import admin_login

api_v1 = [
    path("", include("apps.tenancy.api.urls")),
    path("", include("apps.inventory.api.urls")),
    path("", include("apps.jobs.api.urls")),
    path("", include("apps.costs.api.urls")),
    path("", include("apps.planner.api.urls")),
    path("", include("apps.admission.api.urls")),
    path("", include("apps.checkpoints.api.urls")),
    path("", include("apps.serving.api.urls")),
    path("", include("apps.telemetry.api.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", core_views.ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("admin/login/", admin_login, name="admin-login-throttled"),  # before the admin's own
    path("admin/", admin.site.urls),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.ReadyzView.as_view(), name="readyz"),
    path("metrics", core_views.metrics, name="metrics"),
    re_path(r"^api/", core_views.api_not_found),
    re_path(r"^(?!static/|admin/|api/|healthz|readyz|metrics).*$", core_views.spa_index, name="spa"),
]
