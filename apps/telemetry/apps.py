from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    """GPU readings attributed to the jobs holding the GPUs, node network traffic, the idle-GPU
    rule and their Prometheus export. Depends on inventory and jobs; neither imports it
    (inventory announces each host report through ``inventory.signals.host_reported``)."""

    name = "apps.telemetry"
    label = "telemetry"
    verbose_name = "Telemetry"

    def ready(self) -> None:
        from apps.core import metrics
        from apps.telemetry import signals, tasks  # noqa: F401  (register the tasks in every process)
        from apps.telemetry.metrics import TelemetryCollector

        signals.connect()
        metrics.register("telemetry", TelemetryCollector())
