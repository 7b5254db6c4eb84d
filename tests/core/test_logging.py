"""Log lines at the right level: Paddock's events keep their own level even inside a Celery
worker (which turns whatever reaches its stdout into WARNING lines), and the periodic passes
stay quiet, at DEBUG, when they changed nothing."""

from __future__ import annotations

import io
import logging
import sys
from typing import Any

import pytest
from django.conf import settings

from apps.core.logging import get_logger, make_formatter
from apps.core.tasks import any_of, paddock_task

pytestmark = pytest.mark.django_db


def test_an_info_event_is_an_info_line_even_under_a_celery_worker(caplog: Any, monkeypatch: Any) -> None:
    from celery.utils.log import LoggingProxy

    # What a Celery worker does to stdout and stderr: every write becomes a WARNING record.
    monkeypatch.setattr(sys, "stdout", LoggingProxy(logging.getLogger("celery.redirected"), logging.WARNING))
    monkeypatch.setattr(sys, "stderr", LoggingProxy(logging.getLogger("celery.redirected"), logging.WARNING))
    caplog.set_level(logging.INFO)

    get_logger("paddock.tests").info("core.hello", team="ml")

    ours = [record for record in caplog.records if "core.hello" in record.getMessage()]
    assert [record.levelname for record in ours] == ["INFO"]
    assert not [record for record in caplog.records if record.name == "celery.redirected"]
    line = make_formatter("console").format(ours[0])
    assert "[info" in line and "core.hello" in line and "team=ml" in line


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_other_libraries_lines_are_rendered_with_their_own_level(log_format: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(log_format))
    logger = logging.getLogger("celery.worker.consumer.tests")
    logger.addHandler(handler)
    try:
        logger.warning("Connection to broker lost")
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert "warning" in line and "Connection to broker lost" in line and "celery.worker.consumer.tests" in line


def test_celery_per_task_lines_are_quiet_unless_debug() -> None:
    from apps.core.logging import logging_config

    quiet = logging_config("console", "INFO", quiet_celery=True)["loggers"]
    assert quiet["celery.app.trace"]["level"] == quiet["celery.beat"]["level"] == "WARNING"
    loud = logging_config("console", "DEBUG", quiet_celery=False)["loggers"]
    assert loud["celery.app.trace"]["level"] == "DEBUG"
    # The settings in force (PADDOCK_LOG_LEVEL=INFO by default) keep them quiet.
    assert settings.LOGGING["loggers"]["celery.app.trace"]["level"] == "WARNING"


def test_workers_and_beat_log_through_djangos_configuration() -> None:
    from celery import signals

    from controlplane.celery import use_django_logging

    # A receiver of setup_logging stops Celery from replacing the root logger's handlers.
    assert use_django_logging in [ref() for _, ref in signals.setup_logging.receivers]
    use_django_logging()
    root = logging.getLogger()
    assert any(type(handler.formatter).__name__ == "ProcessorFormatter" for handler in root.handlers)


PERIODIC_PASSES = [
    "jobs.reconcile",
    "inventory.discover",
    "admission.sync_kueue_all",
    "admission.schedule",
    "admission.estimate",
    "checkpoints.sweep",
    "serving.reconcile_all",
    "serving.sample",
    "costs.accrue",
]


def test_passes_that_change_nothing_log_nothing_at_info(caplog: Any, catalog: None) -> None:
    from controlplane.celery import app

    caplog.set_level(logging.DEBUG)
    for name in PERIODIC_PASSES:
        app.tasks[name].apply().get()  # as beat would run it, here in-process

    loud = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.INFO]
    assert not loud
    done = {
        r.msg["task"]: r.levelname for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == "task.done"
    }
    assert {name: done.get(name) for name in PERIODIC_PASSES} == dict.fromkeys(PERIODIC_PASSES, "DEBUG")


CHANGED: dict[str, int] = {}


@paddock_task("tests.logging_pass", changed=any_of("written"))
def logging_pass() -> dict[str, int]:
    return {"looked_at": 5, "written": CHANGED.get("written", 0)}


@pytest.mark.parametrize(("written", "level"), [(0, "DEBUG"), (2, "INFO")])
def test_a_pass_logs_at_info_only_when_it_changed_something(
    caplog: Any, monkeypatch: Any, written: int, level: str
) -> None:
    monkeypatch.setitem(CHANGED, "written", written)
    caplog.set_level(logging.DEBUG)
    logging_pass.apply().get()
    done = [record for record in caplog.records if "task.done" in record.getMessage()]
    assert [record.levelname for record in done] == [level]
