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


def _development_settings(data: Path, script: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(ROOT),
        "PADDOCK_ENV": "development",
        "PADDOCK_DATA_DIR": str(data),
    }
    setup = "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'controlplane.settings'; django.setup(); "
    out = subprocess.run(
        [sys.executable, "-c", setup + script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def test_the_development_secret_key_is_random_private_and_kept(tmp_path: Path) -> None:
    """It derived from the data directory's path, so anyone who knew the path could forge a
    session and decrypt stored cluster credentials (issue 9, finding 1)."""
    show = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = _development_settings(tmp_path / "one", show)
    assert _development_settings(tmp_path / "one", show) == first  # kept across restarts
    assert _development_settings(tmp_path / "two", show) != first  # one per data directory
    assert "insecure" not in first and len(first) >= 40
    assert (tmp_path / "one" / "secret-key").stat().st_mode & 0o777 == 0o600


def test_credentials_stored_under_the_old_development_key_still_open(tmp_path: Path) -> None:
    script = (
        "import base64, hashlib; from cryptography.fernet import Fernet; from django.conf import settings; "
        "from apps.core import crypto; "
        "old = base64.urlsafe_b64encode(hashlib.sha256(b'paddock-credentials:' + "
        "settings.LEGACY_DEVELOPMENT_SECRET_KEY.encode()).digest()); "
        "stored = Fernet(old).encrypt(b'token-from-before').decode(); "
        "fresh = crypto.encrypt('token-now'); "
        "opens_with_old = True\n"
        "try:\n    Fernet(old).decrypt(fresh.encode())\nexcept Exception:\n    opens_with_old = False\n"
        "print(crypto.decrypt(stored), opens_with_old)"
    )
    assert _development_settings(tmp_path / "data", script) == "token-from-before False"
