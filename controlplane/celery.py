"""The Celery app: configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
# The embedded default's broker: kombu's file-system transport with atomic writes and claims.
TRANSPORT_ALIASES["paddockfs"] = "apps.core.broker:Transport"

app = Celery("paddock")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
