"""The suite's real local Ray head, started once per session (shared by dispatch,
integration, browser and benchmark tests through ``tests/conftest.py``).

The head listens on ports of its own (PADDOCK_TEST_RAY_GCS_PORT,
PADDOCK_TEST_RAY_DASHBOARD_PORT; 6390/8275 by default), so it runs beside the head of
``make run`` (6380/8265), and it requires a token, so the tests also check Ray's token auth.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from apps.dispatch.local_ray import LocalRayHead

RAY_TEST_GCS_PORT = int(os.environ.get("PADDOCK_TEST_RAY_GCS_PORT", "6390"))
RAY_TEST_DASHBOARD_PORT = int(os.environ.get("PADDOCK_TEST_RAY_DASHBOARD_PORT", "8275"))
RAY_TEST_NUM_CPUS = 4
RAY_TEST_NUM_GPUS = 2  # pretend GPUs: Ray schedules them and sets CUDA_VISIBLE_DEVICES
RAY_TEST_RESOURCES = {"accelerator_type:H100": 1.0}


@pytest.fixture(scope="session")
def ray_head() -> Iterator[LocalRayHead]:
    """A Ray head with 4 CPUs, 2 GPUs and one H100 marker, token auth on; stopped at the end."""
    head = LocalRayHead(
        gcs_port=RAY_TEST_GCS_PORT,
        dashboard_port=RAY_TEST_DASHBOARD_PORT,
        num_cpus=RAY_TEST_NUM_CPUS,
        num_gpus=RAY_TEST_NUM_GPUS,
        resources=RAY_TEST_RESOURCES,
        labels={"paddock-pool": "test"},
        auth_token=secrets.token_hex(32),
        # The object store is unused by Jobs API tests; keep the head small.
        object_store_memory=256 * 2**20,
    )
    head.start(timeout=90)
    try:
        yield head
    finally:
        head.stop()
