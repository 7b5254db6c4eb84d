"""The embedded default (no REDIS_URL): what processes share must be shared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_processes_share_their_cache_and_the_broker_writes_atomically(tmp_path: Path) -> None:
    """The watch loop's "one at a time" lock lived in each process's memory cache, so two
    worker processes ran the loop at once (finding 12)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(ROOT),
        "PADDOCK_ENV": "development",
        "PADDOCK_DATA_DIR": str(tmp_path / "data"),
    }
    script = (
        "import json, django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'controlplane.settings'; django.setup(); "
        "from django.conf import settings; "
        "print(json.dumps([settings.CACHES['default']['BACKEND'], settings.CELERY_BROKER_URL]))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    backend, broker = json.loads(out.stdout.strip().splitlines()[-1])
    assert backend == "django.core.cache.backends.db.DatabaseCache"
    assert broker == "paddockfs://"
