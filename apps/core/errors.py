"""Domain errors that services raise and the API maps to status codes."""

from __future__ import annotations


class Conflict(Exception):
    """The object is in a state that does not allow the operation (HTTP 409)."""


class DependencyUnavailable(Exception):
    """A dependency (broker, cluster) does not answer; retry later (HTTP 503)."""

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after
