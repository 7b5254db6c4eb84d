from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.checkpoints.api import reports, templates, views

router = SimpleRouter()
router.register("checkpoints", views.CheckpointViewSet, basename="checkpoint")
router.register("models", views.ModelViewSet, basename="model")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")

urlpatterns = [
    *router.urls,
    path("job-metrics/", views.JobMetricsView.as_view(), name="job-metrics"),
    path("job-templates/", templates.TemplateListView.as_view(), name="job-templates"),
    path("job-templates/<slug:slug>/plan/", templates.TemplatePlanView.as_view(), name="job-template-plan"),
    path("job-templates/<slug:slug>/submit/", templates.TemplateSubmitView.as_view(), name="job-template-submit"),
    path("job-reports/context/", reports.ContextView.as_view(), name="job-report-context"),
    path("job-reports/metrics/", reports.MetricsReportView.as_view(), name="job-report-metrics"),
    path("job-reports/checkpoint-uploads/", reports.UploadsView.as_view(), name="job-report-uploads"),
    path("job-reports/checkpoints/", reports.CheckpointReportView.as_view(), name="job-report-checkpoints"),
    path("job-reports/downloads/", reports.DownloadsView.as_view(), name="job-report-downloads"),
    path("job-reports/model-versions/", reports.VersionReportView.as_view(), name="job-report-versions"),
]
