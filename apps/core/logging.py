"""structlog configuration: named events (``<app>.<event>``) with key/value context.

Paddock's events go through the standard library's logging, so that every line (Paddock's,
Celery's, Django's) carries its own level and one handler renders them alike. Writing to
stdout directly would not do: a Celery worker turns whatever reaches its stdout into
WARNING lines.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog


def _renderer(log_format: str) -> structlog.types.Processor:
    if log_format == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def make_formatter(log_format: str = "console") -> logging.Formatter:
    """The formatter of the console handler (``LOGGING``): Paddock's events arrive as event
    dicts; lines from other libraries get a level, their logger's name and a time first."""
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(log_format)],
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
    )


def logging_config(log_format: str, level: str, *, quiet_celery: bool) -> dict[str, Any]:
    """Django's ``LOGGING``: one console handler for everything, at ``level``.

    ``quiet_celery``: Celery's per-task lines (received, succeeded, beat's "sending due task")
    only from WARNING on, since every periodic pass would print three lines every few
    seconds; Paddock's own ``task.done`` line says what a task did, at INFO when it changed
    something (see ``apps.core.tasks``).
    """
    chatty = "WARNING" if quiet_celery else level
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"paddock": {"()": make_formatter, "log_format": log_format}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "paddock"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            "celery": {"level": "INFO"},
            "celery.app.trace": {"level": chatty},
            "celery.worker.strategy": {"level": chatty},
            "celery.beat": {"level": chatty},
        },
    }


def configure_structlog() -> None:
    """Paddock's events as event dicts handed to the standard library's loggers (levels and
    handlers from ``LOGGING``)."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
