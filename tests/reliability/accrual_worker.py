"""A Celery worker that SIGKILLs its whole process group in the middle of an accrual pass —
after the pass has written its ledger lines, before it commits them with the attempts' cursors
— with probability PADDOCK_CHAOS_P, appending a line to ``$PADDOCK_CHAOS_DIR/kills`` first.
Only the accrual restart test uses it; everything else is the real code."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
django.setup()

from apps.costs import accrual  # noqa: E402

PROBABILITY = float(os.environ.get("PADDOCK_CHAOS_P", "0.5"))
KILLS = Path(os.environ["PADDOCK_CHAOS_DIR"]) / "kills"
_rng = random.Random(os.getpid())
_record = accrual.record_usage_progress


def record_usage_progress(progress: Any) -> None:
    _record(progress)
    if progress and _rng.random() < PROBABILITY:
        with KILLS.open("a") as log:
            log.write(f"mid-accrual {time.time():.2f}\n")
            log.flush()
            os.fsync(log.fileno())
        os.killpg(os.getpgrp(), signal.SIGKILL)


accrual.record_usage_progress = record_usage_progress  # type: ignore[assignment]

if __name__ == "__main__":
    from celery.bin.celery import main

    sys.argv[0] = "celery"
    sys.exit(main())
