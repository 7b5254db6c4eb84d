from django.apps import AppConfig


class QuotasConfig(AppConfig):
    name = "apps.quotas"
    label = "quotas"
    verbose_name = "Quotas and admission"

    def ready(self) -> None:
        from apps.quotas import signals

        signals.connect()
