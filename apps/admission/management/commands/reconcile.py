"""``manage.py reconcile``: compare active jobs with their clusters now, then admit."""

from typing import Any

from django.core.management.base import BaseCommand

from apps.admission import scheduler
from apps.jobs import services


class Command(BaseCommand):
    help = "Reconcile every active attempt with its cluster, then run one admission pass."

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.reconcile()
        admitted = scheduler.admit_pending()
        self.stdout.write(f"checked {result['checked']}, re-sent {result['redispatched']}, admitted {admitted}")
