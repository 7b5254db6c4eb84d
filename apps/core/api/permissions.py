"""API permissions: authentication, token scope, and team roles."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


class IsAuthenticatedWithTokenScope(BasePermission):
    """Authenticated callers only; a read-scoped API token may only read; an agent-scoped
        token may only call views marked ``agent_endpoint = True``, which accept nothing else (a job
    token, scope ``job``, likewise only ``job_endpoint = True`` views). Views
        marked ``read_scope_may_post = True`` compute without changing anything, so read tokens may POST."""

    message = "This API token's scope does not allow this request."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        scope = getattr(request.auth, "scope", None)
        agent_endpoint = getattr(view, "agent_endpoint", False)
        job_endpoint = getattr(view, "job_endpoint", False)
        if job_endpoint or scope == "job":  # a running job's token: its own reporting views only
            return bool(job_endpoint and scope == "job")
        if agent_endpoint or scope == "agent":
            return bool(agent_endpoint and scope == "agent")
        if scope == "read" and getattr(view, "read_scope_may_post", False) and request.method == "POST":
            return True  # a computation that changes nothing (e.g. a planner estimate)
        return not (scope == "read" and request.method not in SAFE_METHODS)
