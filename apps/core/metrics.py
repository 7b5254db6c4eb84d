"""The Prometheus registry behind /metrics. Apps register collectors that read PostgreSQL,
so every process (web, worker, beat) agrees on one truth without shared memory."""

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=False)  # collecting reads the database: never at import
_registered: set[str] = set()


def register(name: str, collector: Collector) -> None:
    """Register once per process (``ready()`` may run more than once in tests)."""
    if name in _registered:
        return
    REGISTRY.register(collector)
    _registered.add(name)
