"""Paddock's client: a small SDK and the ``paddock`` CLI for CI pipelines (no Django)."""

from paddock.client import ApiError, Client

__all__ = ["ApiError", "Client"]
