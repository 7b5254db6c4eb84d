"""API permissions: authentication, token scope, and team roles."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


class IsAuthenticatedWithTokenScope(BasePermission):
    """Authenticated callers only; a read-scoped API token may only read."""

    message = "This API token is read-only; create a token with write scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        scope = getattr(request.auth, "scope", None)
        return not (scope == "read" and request.method not in SAFE_METHODS)
