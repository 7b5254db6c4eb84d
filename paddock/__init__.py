"""Paddock's client: a small SDK and the ``paddock`` CLI for CI pipelines (no Django).

``paddock.job`` (reporting from inside a job) needs only the standard library, so importing
this package must not import ``requests``: ``Client`` and ``ApiError`` load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paddock.client import ApiError, Client

__all__ = ["ApiError", "Client"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from paddock import client

        return getattr(client, name)
    raise AttributeError(f"module 'paddock' has no attribute {name!r}")
