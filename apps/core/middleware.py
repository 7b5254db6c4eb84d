"""Middleware that keeps machine-facing answers machine-shaped and the dashboard fenced in.

* :class:`ApiErrorMiddleware`: an exception nobody handled, under ``/api/``, ``/healthz``,
  ``/readyz`` or ``/metrics``, becomes ``{"detail": "Internal server error", "error_id": …}``
  with status 500 (and a bad request a JSON 400/413), even with ``DEBUG`` on: Django's debug
  page shows settings and source to whoever triggered the error. The traceback goes to the
  log under the same ``error_id``, so an operator can find what a client reports.
* :class:`ContentSecurityPolicyMiddleware`: the dashboard's index and assets may load code,
  styles and data from this origin only; JSON answers may load nothing at all.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from typing import Any, Final

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.signals import got_request_exception
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from apps.core.logging import get_logger

MACHINE_PREFIXES: Final = ("/api/", "/healthz", "/readyz", "/metrics")
ERROR_ID_ATTRIBUTE: Final = "paddock_error_id"

# The dashboard (a Vite build of React; Chart.js draws on a canvas): everything from this
# origin, nothing inline, no plugins, no framing, no <base> or form posts elsewhere.
DASHBOARD_CSP: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
# The API's docs page (Swagger UI from drf-spectacular-sidecar, its start-up script a file of
# its own): everything from this origin, so that the page works offline and can reach no other
# host. Swagger UI writes inline styles and draws its icons from data: URLs.
API_DOCS_CSP: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
# A JSON answer is data, never a document: should a browser render one, it may load nothing.
API_CSP: Final = "default-src 'none'; frame-ancestors 'none'"


def is_machine_path(path: str) -> bool:
    return path.startswith(MACHINE_PREFIXES)


def _log_unhandled(request: HttpRequest, exc: BaseException) -> str:
    error_id = uuid.uuid4().hex
    # A fresh logger each time (not a cached module-level one): errors are rare, and tests
    # can capture the event.
    get_logger("apps.core.middleware").error(
        "core.unhandled_exception",
        error_id=error_id,
        method=request.method,
        path=request.path,
        exception=type(exc).__name__,
        exc_info=exc,
    )
    return error_id


def _new_error_id(request: HttpRequest) -> str:
    error_id = uuid.uuid4().hex
    get_logger("apps.core.middleware").error("core.error_page_replaced", error_id=error_id, path=request.path)
    return error_id


def internal_error(error_id: str) -> JsonResponse:
    return JsonResponse({"detail": "Internal server error", "error_id": error_id}, status=500)


class ApiErrorMiddleware:
    """JSON instead of Django's error pages for API, health and metrics paths.

    Put it near the top of ``MIDDLEWARE``, outside every middleware that might raise:
    ``process_exception`` catches what a view raised;
    ``__call__`` replaces the HTML error page Django made for an exception outside any view
    (its traceback was logged by :func:`_record_request_exception` under the answer's id).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not is_machine_path(request.path)
            or response.get("Content-Type", "").startswith("application/json")
            or hasattr(response, "accepted_renderer")  # DRF's own answer (JSON, or its browsable page)
        ):
            return response
        # Django's own error page (with DEBUG, its debug page) for an exception raised outside
        # any view, e.g. in another middleware: answer JSON, keep the status.
        if response.status_code == 500:
            return internal_error(getattr(request, ERROR_ID_ATTRIBUTE, None) or _new_error_id(request))
        replacement = JsonResponse({"detail": response.reason_phrase}, status=response.status_code)
        if "Retry-After" in response:
            replacement["Retry-After"] = response["Retry-After"]
        return replacement

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not is_machine_path(request.path):
            return None
        if isinstance(exc, Http404):
            return JsonResponse({"detail": "Not found."}, status=404)
        if isinstance(exc, PermissionDenied):
            return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)
        if isinstance(exc, RequestDataTooBig):
            return JsonResponse(
                {"detail": f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes."},
                status=413,
            )
        if isinstance(exc, SuspiciousOperation | BadRequest):
            get_logger("apps.core.middleware").warning(
                "core.bad_request", path=request.path, exception=type(exc).__name__, reason=str(exc)
            )
            return JsonResponse({"detail": f"Bad request: {exc}"}, status=400)
        error_id = _log_unhandled(request, exc)
        setattr(request, ERROR_ID_ATTRIBUTE, error_id)
        return internal_error(error_id)


def _record_request_exception(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Django's last resort (an exception outside any view): log it with an id the API answer
    will carry. Views' exceptions never get here under the API: the middleware answered."""
    if request is None or not is_machine_path(request.path) or getattr(request, ERROR_ID_ATTRIBUTE, None):
        return
    exc = sys.exc_info()[1]
    if exc is None:
        return
    setattr(request, ERROR_ID_ATTRIBUTE, _log_unhandled(request, exc))


got_request_exception.connect(_record_request_exception, dispatch_uid="paddock-api-error-id")


class ContentSecurityPolicyMiddleware:
    """A Content-Security-Policy on the dashboard's assets and on every JSON answer.

    The dashboard's index sets its own (see ``apps.core.views.spa_index``). The admin and the
    API's HTML docs keep Django's and drf-spectacular's pages as they are. Put it before
    WhiteNoise so that the static files it serves get the header too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" in response:
            return response
        content_type = response.get("Content-Type", "")
        if request.path.startswith(settings.STATIC_URL):
            response["Content-Security-Policy"] = DASHBOARD_CSP
        elif content_type.startswith("application/json") or (
            is_machine_path(request.path) and not content_type.startswith("text/html")
        ):
            response["Content-Security-Policy"] = API_CSP
        return response
