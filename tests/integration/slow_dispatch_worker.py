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
from tests.integration.workers import AfterSubmit  # noqa: E402

_real_backend_for = services.backend_for


def _pause(spec: Any) -> None:
    Path(os.environ["PADDOCK_TEST_SUBMIT_MARKER"]).write_text(spec.remote_id)
    time.sleep(300)


services.backend_for = lambda cluster: AfterSubmit(_real_backend_for(cluster), _pause)  # type: ignore[assignment]

if __name__ == "__main__":
    from celery.bin.celery import main

    sys.argv[0] = "celery"
    sys.exit(main())
