from django.apps import AppConfig


class CheckpointsConfig(AppConfig):
    """Checkpoints, their retention, the metrics jobs report, and the model registry with its
    lineage. Depends on jobs, inventory and tenancy; none of them imports it (jobs asks for a
    new attempt's checkpoint environment through ``jobs.signals.attempt_environment``)."""

    name = "apps.checkpoints"
    label = "checkpoints"
    verbose_name = "Checkpoints and models"

    def ready(self) -> None:
        from apps.checkpoints import signals, tasks  # noqa: F401  (register the tasks in every process)

        signals.connect()
