from django.apps import AppConfig


class ServingConfig(AppConfig):
    """Serving endpoints: endpoints, revisions, tokens, health samples, and the reconciler that
    converges each cluster's model server (Ray Serve) to them. Depends on jobs (an endpoint
    holds its quota through a job of kind ``deployment``), checkpoints (the model registry),
    inventory, costs and tenancy; none of them imports it."""

    name = "apps.serving"
    label = "serving"
    verbose_name = "Serving endpoints"

    def ready(self) -> None:
        from apps.serving import signals, tasks  # noqa: F401  (register the tasks in every process)

        signals.connect()
