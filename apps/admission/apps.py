from django.apps import AppConfig


class AdmissionConfig(AppConfig):
    """Admission: the scheduler pass, quotas' accounting, placement, preemption and the GPUs
    each admitted job holds. Depends on jobs, quotas and inventory; none of them imports it."""

    name = "apps.admission"
    label = "admission"
    verbose_name = "Admission"

    def ready(self) -> None:
        from apps.admission import signals, tasks  # noqa: F401  (register the tasks in every process)

        signals.connect()
