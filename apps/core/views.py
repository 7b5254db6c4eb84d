"""Plain Django views: health, metrics, the dashboard's index and the API's 404."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.core import health
from apps.core.metrics import REGISTRY
from apps.core.middleware import DASHBOARD_CSP


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and broker answer; clusters are reported, not fatal."""
    results = health.run_all()
    ok = all(r.ok for r in results if r.critical)
    body = {
        "status": "ok" if ok and all(r.ok for r in results) else ("degraded" if ok else "down"),
        "checks": [{"name": r.name, "ok": r.ok, "detail": r.detail, "critical": r.critical} for r in results],
    }
    return JsonResponse(body, status=200 if ok else 503)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


@ensure_csrf_cookie
@require_GET
def spa_index(request: HttpRequest) -> HttpResponse:
    """The dashboard's index.html for every client-side route."""
    index = settings.FRONTEND_DIST / "index.html"
    if not index.is_file():
        return HttpResponse(
            "The dashboard is not built. Run `make run` (or `npm --prefix frontend run build`).",
            status=503,
            content_type="text/plain",
        )
    response = HttpResponse(index.read_bytes(), content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["Content-Security-Policy"] = DASHBOARD_CSP
    return response


def api_not_found(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"detail": "Not found."}, status=404)
