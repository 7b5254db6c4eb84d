"""The planner costs CPU per spec (a list of 100 is seconds of a core), so each caller has a
budget of specs per window, shared by every web process (DRF's cache: Redis, or the embedded
database cache). A list costs as many specs as it holds; over budget is 429 with Retry-After."""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.planner.estimator.spec import MAX_SPECS
from apps.tenancy.throttling import parse_rate


def specs_in(data: Any) -> int:
    """What a body costs: one spec, or each of a list's (a list over the cap is refused by the
    planner, but its parsing is paid for)."""
    if isinstance(data, list):
        return max(1, min(len(data), MAX_SPECS + 1))
    return 1


class PlannerSpecsThrottle(BaseThrottle):
    scope = "planner_specs"
    timer = staticmethod(time.time)

    def __init__(self) -> None:
        self.limit, self.window = parse_rate(self.scope, str(api_settings.DEFAULT_THROTTLE_RATES[self.scope]))
        self.retry_after: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if not getattr(user, "is_authenticated", False):
            return True  # the permission check answers strangers
        # The account's creation time keeps keys apart when a recreated database reuses ids.
        joined = getattr(user, "date_joined", None)
        key = f"throttle:{self.scope}:{user.pk}:{joined.timestamp() if joined else 0:.6f}"
        now = self.timer()
        spent = [(at, cost) for at, cost in cache.get(key, []) if at > now - self.window]
        cost = specs_in(request.data)
        excess = sum(c for _, c in spent) + cost - self.limit
        if excess > 0:
            # Allowed again once enough of the oldest spending has left the window.
            freed, until = 0, now
            for at, c in spent:
                freed, until = freed + c, at
                if freed >= excess:
                    break
            self.retry_after = max(1.0, until + self.window - now)
            return False
        spent.append((now, cost))
        cache.set(key, spent, self.window)
        return True

    def wait(self) -> float | None:
        return self.retry_after
