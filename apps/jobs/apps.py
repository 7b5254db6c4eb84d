from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "apps.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from apps.core import metrics
        from apps.jobs import schema, tasks  # noqa: F401  (register the tasks; the OpenAPI auth extension)
        from apps.jobs.metrics import JobsCollector

        metrics.register("jobs", JobsCollector())
