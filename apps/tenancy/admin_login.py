"""The Django admin's sign-in, under the same failed-sign-in limits as the API's.

The admin opens every organisation's configuration to staff, so guessing its passwords must cost
what guessing the dashboard's does: failures count per username and per client address, in the
same shared windows (``DEFAULT_THROTTLE_RATES['login_username' | 'login_address']``), and once a
window is full every attempt is refused with 429 — the right password too.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, cast

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from rest_framework.request import Request

from apps.tenancy.throttling import FailedLoginThrottle, LoginAddressThrottle, LoginUsernameThrottle


def _as_throttle_request(request: HttpRequest) -> Request:
    # The throttles read the username from ``data`` and the address from ``META`` and ``headers``.
    return cast(Request, SimpleNamespace(data=request.POST, META=request.META, headers=request.headers))


@csrf_protect
@never_cache
def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    if request.method != "POST":
        return admin.site.login(request, extra_context)
    attempt = _as_throttle_request(request)
    throttles: list[FailedLoginThrottle] = [LoginUsernameThrottle(), LoginAddressThrottle()]
    refused = [throttle.wait() or 1.0 for throttle in throttles if not throttle.allow_request(attempt, None)]
    if refused:
        response = HttpResponse("Too many failed sign-ins; try again later.\n", status=429, content_type="text/plain")
        response["Retry-After"] = str(math.ceil(max(refused)))
        return response
    response = admin.site.login(request, extra_context)
    if response.status_code == 200 and request.POST.get("username"):  # the form again: rejected
        for throttle in throttles:
            throttle.record_failure(attempt)
    return response
