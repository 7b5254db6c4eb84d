"""A Celery worker that SIGKILLs itself — the whole worker, main process and pool — at the
dispatch steps named in PADDOCK_CHAOS_POINTS, each time with probability PADDOCK_CHAOS_P:

- ``admitted``: the admission committed, nothing sent yet (attempt and job ``admitted``);
- ``before_submit``: the job moved to ``dispatching``, the cluster not yet asked;
- ``after_submit``: the cluster accepted the job, Paddock has not recorded it;
- ``after_record``: recorded as submitted, the watch not yet asked to look.

Each kill appends its point to ``$PADDOCK_CHAOS_DIR/kills`` first. Only the chaos test uses it;
everything else (the backend, the database, the broker) is the real one.
"""

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

import apps.dispatch.backends.ray  # noqa: E402, F401  (imported once, before the pool forks: faster restarts)
from apps.jobs import services  # noqa: E402
from tests.integration.workers import AfterSubmit  # noqa: E402

POINTS = set(filter(None, os.environ.get("PADDOCK_CHAOS_POINTS", "").split(",")))
PROBABILITY = float(os.environ.get("PADDOCK_CHAOS_P", "0.3"))
KILLS = Path(os.environ["PADDOCK_CHAOS_DIR"]) / "kills"
_rng = random.Random(os.getpid())


def maybe_die(point: str) -> None:
    if point in POINTS and _rng.random() < PROBABILITY:
        with KILLS.open("a") as log:
            log.write(f"{point} {time.time():.2f}\n")
            log.flush()
            os.fsync(log.fileno())
        os.killpg(os.getpgrp(), signal.SIGKILL)


_send = services.Dispatcher.send
_begin = services.begin_dispatches
_finish = services.finish_dispatches
_backend_for = services.backend_for


def send(self: Any, attempt_ids: Any) -> None:
    maybe_die("admitted")
    _send(self, attempt_ids)


def begin_dispatches(attempt_ids: Any) -> Any:
    # The pass's batch and the task's single attempt (begin_dispatch) both come through here.
    outcomes = _begin(attempt_ids)
    if any(attempt is not None for _, attempt in outcomes.values()):
        maybe_die("before_submit")
    return outcomes


def finish_dispatches(answers: Any) -> Any:
    answers = list(answers)
    outcomes = _finish(answers)
    if any(outcome.error is None for _, outcome in answers):
        maybe_die("after_record")
    return outcomes


services.Dispatcher.send = send  # type: ignore[method-assign]
services.begin_dispatches = begin_dispatches  # type: ignore[assignment]
services.finish_dispatches = finish_dispatches  # type: ignore[assignment]
services.backend_for = lambda cluster: AfterSubmit(_backend_for(cluster), lambda spec: maybe_die("after_submit"))  # type: ignore[assignment]

if __name__ == "__main__":
    from celery.bin.celery import main

    sys.argv[0] = "celery"
    sys.exit(main())
