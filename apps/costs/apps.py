from django.apps import AppConfig


class CostsConfig(AppConfig):
    """Costs: prices, the usage ledger and its accrual, rollups and budgets. Depends on jobs
    (attempts are what is charged), inventory, quotas and tenancy; admission asks its budget
    book; serving says, through a costs signal, which endpoint a deployment job serves."""

    name = "apps.costs"
    label = "costs"
    verbose_name = "Costs"

    def ready(self) -> None:
        from apps.costs import tasks  # noqa: F401  (register the tasks in every process)
