"""Plain Django views: health, metrics, the dashboard's index and the API's 404."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import health
from apps.core.metrics import REGISTRY
from apps.core.middleware import API_DOCS_CSP, DASHBOARD_CSP
from apps.tenancy.scoping import caller_organisation_ids


def _body(results: list[health.CheckResult], *, visible_organisations: set[int] | None) -> dict[str, Any]:
    """What a caller may read: anonymous callers get each check's name, state and a public
    summary; authenticated ones the details and the objects of their organisations
    (``None``: every organisation, for staff)."""
    status, _ = health.status_of(results)
    checks = []
    for result in results:
        check: dict[str, Any] = {"name": result.name, "ok": result.ok, "critical": result.critical}
        if visible_organisations is None or visible_organisations:
            check["detail"] = result.detail
            items = [
                {key: value for key, value in item.items() if key != "organisation_id"}
                for item in result.items
                if visible_organisations is None or item.get("organisation_id") in visible_organisations
            ]
            if items:
                check["items"] = items
        elif result.public:
            check["detail"] = result.public
        checks.append(check)
    return {"status": status, "checks": checks}


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 while this process and its database answer. No cluster is ever named."""
    results = health.liveness()
    _, ok = health.status_of(results)
    return JsonResponse(_body(results, visible_organisations=set()), status=200 if ok else 503)


class ReadyzView(APIView):
    """Readiness: the database, the broker, and each cluster as the control loops last saw it
    (never called from here). 503 when the database or the broker is down."""

    permission_classes = [AllowAny]
    schema = None  # an operations endpoint, not part of the API contract

    def get(self, request: Request) -> Response:
        results = health.readiness()
        _, ok = health.status_of(results)
        user = request.user
        visible: set[int] | None
        if getattr(user, "is_staff", False) and request.auth is None:
            visible = None  # staff with a dashboard session: every organisation
        elif getattr(user, "is_authenticated", False):
            visible = set(caller_organisation_ids(request))
        else:
            visible = set()
        return Response(_body(results, visible_organisations=visible), status=200 if ok else 503)


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


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI over the schema, every asset from this origin (drf-spectacular-sidecar) and
    its start-up script a file of its own, under a policy that allows nothing else."""

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response: Response = super().get(request, *args, **kwargs)
        if request.GET.get("script") is None:
            response["Content-Security-Policy"] = API_DOCS_CSP
        return response
