"""Reconcile's max-runtime check on the embedded default's SQLite (the suite otherwise runs on
PostgreSQL): it once multiplied a duration in SQL, which SQLite refuses, and every reconcile
pass of `make run` failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import django
django.setup()
from datetime import timedelta
from django.core.management import call_command
from django.utils import timezone
call_command("migrate", verbosity=0)
from apps.inventory.models import Cluster
from apps.jobs.models import Attempt, Job
from apps.jobs.services import overrunning_attempts
from apps.tenancy.models import Organisation, Team
org = Organisation.objects.create(name="o", slug="o")
team = Team.objects.create(organisation=org, name="t", slug="t")
cluster = Cluster.objects.create(organisation=org, name="c", address="http://127.0.0.1:1")
now = timezone.now()
def attempt(limit, started):
    job = Job.objects.create(team=team, cluster=cluster, name="j", entrypoint="true", state="running",
                             max_runtime_seconds=limit)
    return Attempt.objects.create(job=job, number=1, state="running", started_at=started)
late = attempt(60, now - timedelta(seconds=120))
attempt(600, now - timedelta(seconds=120))
attempt(None, now - timedelta(days=3))
print([a.pk for a in overrunning_attempts()] == [late.pk])
"""


def test_overrunning_attempts_are_found_on_sqlite(tmp_path: Any) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PADDOCK_", "DATABASE_", "REDIS_"))}
    env.update(
        PADDOCK_ENV="development",
        PADDOCK_DATA_DIR=str(tmp_path),
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="controlplane.settings",
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "True", result.stdout[-2000:]
