"""Failed sign-ins are limited per username and per client address (DRF throttles on Django's
default cache, which every web process shares).

Only failures count, and once a window holds the limit every attempt is refused with 429 and
``Retry-After`` — the right password too — until the oldest counted failure leaves the window:
guessing on, and then trying the one right answer, gains nothing.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(scope: str, rate: str) -> tuple[int, int]:
    """``"10/15m"`` → (10 failures, 900 seconds); also ``10/min``, ``50/1h``, ``5/day``."""
    count, _, period = rate.partition("/")
    match = re.fullmatch(r"(\d*)([smhd])[a-z]*", period.strip())
    if not count.strip().isdigit() or match is None:
        raise ImproperlyConfigured(f"Throttle rate {rate!r} for {scope}: write it like 10/15m")
    return int(count), int(match.group(1) or 1) * _UNITS[match.group(2)]


class FailedLoginThrottle(BaseThrottle):
    """Refuses a sign-in while its key holds ``limit`` failures within the window; the view
    records each failure with :meth:`record_failure`. The rate comes from DRF's
    ``DEFAULT_THROTTLE_RATES[scope]``."""

    scope = ""
    timer = staticmethod(time.time)

    def __init__(self) -> None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)  # read on use: tests change it
        if not rate:
            raise ImproperlyConfigured(f"No throttle rate for {self.scope} in DEFAULT_THROTTLE_RATES")
        self.limit, self.window = parse_rate(self.scope, str(rate))
        self.history: list[float] = []
        self.now = 0.0

    def ident(self, request: Request) -> str | None:
        raise NotImplementedError

    def _key(self, request: Request) -> str | None:
        ident = self.ident(request)
        if not ident:
            return None
        return f"throttle:{self.scope}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}"

    def _load(self, key: str) -> None:
        self.now = self.timer()
        self.history = [at for at in cache.get(key, []) if at > self.now - self.window]

    def allow_request(self, request: Request, view: Any) -> bool:
        key = self._key(request)
        if key is None:
            return True
        self._load(key)
        return len(self.history) < self.limit

    def record_failure(self, request: Request) -> None:
        key = self._key(request)
        if key is None:
            return
        self._load(key)
        self.history.insert(0, self.now)
        cache.set(key, self.history[: self.limit], self.window)

    def wait(self) -> float | None:
        if len(self.history) < self.limit:
            return None
        # Allowed again once the failure that fills the limit has left the window.
        return max(1.0, self.history[self.limit - 1] + self.window - self.now)


class LoginUsernameThrottle(FailedLoginThrottle):
    scope = "login_username"

    def ident(self, request: Request) -> str | None:
        data: Any = request.data
        username = data.get("username") if isinstance(data, Mapping) else None
        return f"user:{username.strip().lower()}" if isinstance(username, str) and username.strip() else None


class LoginAddressThrottle(FailedLoginThrottle):
    scope = "login_address"

    def ident(self, request: Request) -> str | None:
        address = self.get_ident(request)
        return f"address:{address}" if address else None
