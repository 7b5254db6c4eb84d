"""The Celery app: configuration comes from Django settings (``CELERY_*``)."""

import os
from typing import Any

from celery import Celery, signals
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
# The embedded default's broker: kombu's file-system transport with atomic writes and claims.
TRANSPORT_ALIASES["paddockfs"] = "apps.core.broker:Transport"

app = Celery("paddock")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def use_django_logging(**_: Any) -> None:
    """Workers and beat log through Django's LOGGING (one format, each line at its own level,
    PADDOCK_LOG_LEVEL) instead of Celery's own set-up."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
