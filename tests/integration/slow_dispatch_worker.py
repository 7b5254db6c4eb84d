"""A Celery worker whose Ray backend pauses right after Ray accepts a job.

The pause opens a window between "Ray has the job" and "Paddock recorded it" in which the
SIGKILL test kills the worker. Only the test uses it; the backend itself is the real one.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
django.setup()

from apps.jobs import services  # noqa: E402

_real_backend_for = services.backend_for


class _PausingBackend:
    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def submit(self, spec: Any) -> Any:
        result = self._backend.submit(spec)
        Path(os.environ["PADDOCK_TEST_SUBMIT_MARKER"]).write_text(spec.remote_id)
        time.sleep(300)
        return result


services.backend_for = lambda cluster: _PausingBackend(_real_backend_for(cluster))  # type: ignore[assignment]

if __name__ == "__main__":
    from celery.bin.celery import main

    sys.argv[0] = "celery"
    sys.exit(main())
