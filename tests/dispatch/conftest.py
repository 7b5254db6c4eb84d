"""The dispatch tests use the session's Ray head from ``tests/conftest.py``, and an emulated
Kubernetes API server per test from :mod:`tests.dispatch.k8s_emulator`."""

from tests.dispatch.k8s_emulator import k8s_cluster, k8s_controller

__all__ = ["k8s_cluster", "k8s_controller"]
