from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "apps.inventory"
    label = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from apps.core import health
        from apps.inventory import tasks  # noqa: F401  (register the tasks in every process)
        from apps.inventory.health import clusters_answering

        health.register(clusters_answering)
