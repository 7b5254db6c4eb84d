from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_cache_table(**kwargs: Any) -> None:
    """The embedded default keeps its shared cache in the database: make its table with the rest."""
    from django.conf import settings
    from django.core.management import call_command

    if any(str(cache["BACKEND"]).endswith("DatabaseCache") for cache in settings.CACHES.values()):
        call_command("createcachetable", database=kwargs.get("using", "default"), verbosity=0)


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        post_migrate.connect(_create_cache_table, sender=self)
