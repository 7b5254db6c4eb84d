"""Loaded first by pytest (``-p tests.environment``): defaults for what the suite talks to.

`make test` sets these too; the defaults let a bare ``pytest`` use the same real services.
"""

import os

os.environ.setdefault("PADDOCK_ENV", "test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/paddock")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")
# Close watching is for the live system; unit tests drive state changes themselves.
os.environ.setdefault("PADDOCK_WATCH_SECONDS", "20")
os.environ.setdefault("PADDOCK_BROKER_VISIBILITY_TIMEOUT", "10")
# The suite's live server (pytest-django's ``live_server``) listens where the jobs it runs on the
# test Ray head report to: the worker process dispatches them with this PADDOCK_API_URL.
_API_ADDRESS = os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1:8791")
os.environ.setdefault("PADDOCK_API_URL", f"http://{_API_ADDRESS}")
# Serving endpoints on the test Ray head: its Serve proxy listens here (make run's on 8700), and
# health checks come every second so an unhealthy revision shows (and fails) within seconds.
os.environ.setdefault("PADDOCK_SERVE_HTTP_PORT", "8761")
os.environ.setdefault("PADDOCK_SERVE_HEALTH_PERIOD", "1")
os.environ.setdefault("PADDOCK_SERVE_HEALTH_TIMEOUT", "5")
os.environ.setdefault("PADDOCK_ENDPOINT_FAIL_AFTER", "6")


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    parser.addoption("--benchmarks", action="store_true", help="run the benchmarks in tests/perf (make bench)")


def pytest_ignore_collect(collection_path, config):  # type: ignore[no-untyped-def]
    # Benchmarks are not tests: `make test` never collects them, `make bench` does.
    if "perf" in collection_path.parts and not config.getoption("--benchmarks"):
        return True
    return None
