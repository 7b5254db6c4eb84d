"""The costs API: prices (staff write), the usage ledger and its rollups (team-scoped, CSV for
chargeback), a job's cost, and budgets (organisation admins write). Views parse and render;
the ledger, rollups and services compute."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import audit
from apps.core.api.pagination import StreamCursorPagination
from apps.core.api.viewsets import TeamScopedViewSet
from apps.costs import budgets as budget_rules
from apps.costs import rollups, services
from apps.costs.api.filters import PricePointFilter
from apps.costs.api.serializers import (
    BudgetSerializer,
    CpuPriceSerializer,
    PricePointSerializer,
    UsageRecordSerializer,
)
from apps.costs.models import Budget, CpuPrice, PricePoint, UsageRecord
from apps.inventory.api.views import OrganisationScopedViewSet
from apps.jobs.models import Job
from apps.tenancy.models import Team
from apps.tenancy.scoping import administered_organisation_ids, caller_organisation_ids, caller_roles


class CSVRenderer(BaseRenderer):
    """``?format=csv``: the views below answer with a CSV stream of their own."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        # Only errors reach here (the views stream their CSV themselves): plain text.
        return str(data).encode()


RENDERERS = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]


def _csv(name: str, lines: Iterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _wants_csv(request: Request) -> bool:
    return request.query_params.get("format") == "csv"


# --- prices -------------------------------------------------------------------------------------


class StaffWritesMixin:
    """Prices describe products on the market (and what clusters cost): readable by every
    signed-in user, written by staff."""

    noun = "prices"

    def scope_queryset(self, queryset: QuerySet[Any], team_ids: list[int]) -> QuerySet[Any]:
        return queryset

    def require_staff(self, action: str) -> None:
        if not self.actor.is_staff:  # type: ignore[attr-defined]
            raise PermissionDenied(f"Only staff can {action} {self.noun}.")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_staff("add")
        return super().create(request, *args, **kwargs)  # type: ignore[misc]

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_staff("change")
        return super().update(request, *args, **kwargs)  # type: ignore[misc]

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_staff("delete")
        return super().destroy(request, *args, **kwargs)  # type: ignore[misc]


class PricePointViewSet(
    StaffWritesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TeamScopedViewSet,
):
    """GPU-hour prices: market quotes and the rates of clusters and regions, valid from/until."""

    noun = "price points"
    queryset = PricePoint.objects.select_related("accelerator_model", "cluster").order_by(
        "accelerator_model__name", "-as_of", "pricing_class", "id"
    )
    serializer_class = PricePointSerializer
    filterset_class = PricePointFilter
    ordering_fields = ["as_of", "valid_from", "price_per_gpu_hour", "pricing_class", "created_at"]
    ordering = ["accelerator_model__name", "-as_of", "pricing_class", "id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():
            point = serializer.save()
            audit.record("costs.price_point_created", point, actor=self.actor, model=point.accelerator_model.name)

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            point = serializer.save()
            audit.record("costs.price_point_updated", point, actor=self.actor, fields=sorted(serializer.validated_data))

    def perform_destroy(self, instance: PricePoint) -> None:
        with transaction.atomic():
            audit.record(
                "costs.price_point_deleted",
                instance,
                actor=self.actor,
                model=instance.accelerator_model.name,
                as_of=instance.as_of.isoformat(),
                price_per_gpu_hour=str(instance.price_per_gpu_hour),
                currency=instance.currency,
            )
            instance.delete()


class CpuPriceViewSet(
    StaffWritesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TeamScopedViewSet,
):
    """CPU-hour prices (work with no GPU), for a cluster, a region or anywhere."""

    noun = "CPU prices"
    queryset = CpuPrice.objects.select_related("cluster").order_by("-valid_from", "id")
    serializer_class = CpuPriceSerializer
    ordering_fields = ["valid_from", "price_per_cpu_hour", "created_at"]
    ordering = ["-valid_from", "id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():
            price = serializer.save()
            audit.record("costs.cpu_price_created", price, actor=self.actor)

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            price = serializer.save()
            audit.record("costs.cpu_price_updated", price, actor=self.actor, fields=sorted(serializer.validated_data))

    def perform_destroy(self, instance: CpuPrice) -> None:
        with transaction.atomic():
            audit.record("costs.cpu_price_deleted", instance, actor=self.actor, price=str(instance.price_per_cpu_hour))
            instance.delete()


# --- the ledger and its rollups -----------------------------------------------------------------


def _team_filter(request: Request) -> list[int]:
    """The caller's teams, narrowed to ``team`` (a slug) when given: 400 for a team the caller
    cannot see, in the same words whether or not it exists."""
    team_ids = list(caller_roles(request))
    slug = request.query_params.get("team")
    if not slug:
        return team_ids
    found = list(Team.objects.filter(slug=slug, pk__in=team_ids).values_list("pk", flat=True))
    if not found:
        raise ValidationError({"team": [f"Unknown team {slug!r}."]})
    return found


def _window(request: Request) -> tuple[datetime, datetime]:
    try:
        return rollups.window({name: request.query_params.get(name, "") for name in ("from", "to")})
    except rollups.QueryError as exc:
        raise ValidationError(exc.errors) from exc


SUMMARY_PARAMETERS = [
    OpenApiParameter("group_by", str, description="One or two of team,user,job,endpoint,pool,day,month"),
    OpenApiParameter("from", str, description="YYYY-MM-DD or ISO 8601; default: the first of this month (UTC)"),
    OpenApiParameter("to", str, description="YYYY-MM-DD (that day included) or ISO 8601; default: now"),
    OpenApiParameter("team", str, description="One of the caller's teams (slug)"),
    OpenApiParameter("currency", str, description="Only this currency"),
    OpenApiParameter("limit", int, description="The N rows of highest amount"),
    OpenApiParameter("format", str, enum=["json", "csv"]),
]


class SummaryRowSerializer(serializers.Serializer):  # type: ignore[type-arg]
    currency = serializers.CharField()
    amount = serializers.CharField()
    gpu_hours = serializers.CharField()
    cpu_hours = serializers.CharField()
    records = serializers.IntegerField()


class CostSummarySerializer(serializers.Serializer):  # type: ignore[type-arg]
    group_by = serializers.ListField(child=serializers.CharField())
    start = serializers.DateTimeField(source="from")
    end = serializers.DateTimeField(source="to")
    rows = serializers.ListField(child=serializers.DictField(), help_text="The grouped dimensions, then the sums")
    totals = SummaryRowSerializer(many=True)
    truncated = serializers.BooleanField(help_text="Only the 5,000 largest rows are here (the CSV has all)")


MAX_ROWS = 5000


class CostSummaryView(APIView):
    """Spend of the caller's teams grouped by one or two dimensions, per currency."""

    renderer_classes = RENDERERS

    @extend_schema(parameters=SUMMARY_PARAMETERS, responses={200: CostSummarySerializer})
    def get(self, request: Request) -> Any:
        team_ids = _team_filter(request)
        start, end = _window(request)
        try:
            group_by = rollups.parse_group_by(request.query_params.get("group_by"))
        except rollups.QueryError as exc:
            raise ValidationError(exc.errors) from exc
        limit = _limit(request)
        csv_wanted = _wants_csv(request)
        lines = rollups.ledger(team_ids, start, end)
        currency = request.query_params.get("currency")
        if currency:
            lines = lines.filter(currency=currency)
        # An answer for a page holds at most MAX_ROWS rows (the largest; the totals count all):
        # a month of a large organisation's jobs is a download, not a page.
        capped = limit if limit is not None or csv_wanted else MAX_ROWS
        summary = rollups.summarise(lines, group_by, start, end, limit=capped)
        truncated = not csv_wanted and limit is None and summary.groups > MAX_ROWS
        if csv_wanted:
            name = f"paddock-costs-{'-'.join(group_by)}-{start:%Y%m%d}-{end:%Y%m%d}.csv"
            return _csv(name, rollups.csv_lines(rollups.summary_header(group_by), summary.rows))
        return Response(
            {
                "group_by": group_by,
                "from": start,
                "to": end,
                "rows": summary.rows,
                "totals": summary.totals,
                "truncated": truncated,
            }
        )


def _limit(request: Request) -> int | None:
    text = request.query_params.get("limit")
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 10000:
        raise ValidationError({"limit": ["A whole number from 1 to 10000."]})
    return int(text)


USAGE_CSV_HEADER = list(UsageRecordSerializer.Meta.fields)  # the CSV's columns are the JSON's fields


class LedgerCursorPagination(StreamCursorPagination):
    """Newest piece first (then the latest written): stable while the accrual appends."""

    ordering = ("-start", "-id")  # type: ignore[assignment]  # (DRF takes a tuple too)


class UsageViewSet(mixins.ListModelMixin, TeamScopedViewSet):
    """The usage ledger of the caller's teams, newest first, one cursor page at a time
    (``format=csv``: every matching line, streamed)."""

    queryset = UsageRecord.objects.select_related(
        "team", "user", "job", "attempt", "cluster", "pool", "accelerator_model"
    )
    serializer_class = UsageRecordSerializer
    pagination_class = LedgerCursorPagination
    renderer_classes = RENDERERS
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Any]:
        lines = UsageRecord.objects.filter(team_id__in=_team_filter(self.request)).select_related(
            "team", "user", "job", "attempt", "cluster", "pool", "accelerator_model"
        )
        params = self.request.query_params
        if params.get("from") or params.get("to"):
            start, end = _window(self.request)
            lines = lines.filter(start__gte=start, start__lt=end)
        for name, field in (("job", "job_id"), ("endpoint", "endpoint_id")):
            if params.get(name):
                if not params[name].isdigit():
                    raise ValidationError({name: ["A whole number (an id)."]})
                lines = lines.filter(**{field: int(params[name])})
        return lines.order_by("-start", "-id")

    @extend_schema(
        parameters=[
            OpenApiParameter("team", str),
            OpenApiParameter("job", int),
            OpenApiParameter("endpoint", int),
            OpenApiParameter("from", str),
            OpenApiParameter("to", str),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if _wants_csv(request):
            lines = self.get_queryset()

            def rows() -> Iterator[dict[str, Any]]:
                for line in lines.iterator(chunk_size=2000):
                    yield UsageRecordSerializer(line).data

            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            return _csv(f"paddock-usage-{stamp}.csv", rollups.csv_lines(USAGE_CSV_HEADER, rows()))
        return super().list(request, *args, **kwargs)


class JobCostPriceSerializer(serializers.Serializer):  # type: ignore[type-arg]
    rate = serializers.DecimalField(max_digits=14, decimal_places=6, allow_null=True)
    currency = serializers.CharField()
    pricing_class = serializers.CharField()
    price_point = serializers.IntegerField(allow_null=True)
    cpu_price = serializers.IntegerField(allow_null=True)
    offer = serializers.CharField()
    locals()["from"] = serializers.DateTimeField()  # a Python keyword, so declared by name
    until = serializers.DateTimeField()
    amount = serializers.DecimalField(max_digits=24, decimal_places=2)


class JobCostAttemptSerializer(serializers.Serializer):  # type: ignore[type-arg]
    attempt = serializers.UUIDField()
    number = serializers.IntegerField()
    state = serializers.CharField()
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField()
    resource = serializers.CharField()
    count = serializers.DecimalField(max_digits=10, decimal_places=3)
    accelerator_model = serializers.CharField(allow_null=True)
    amount = serializers.DecimalField(max_digits=24, decimal_places=2)
    quantity_hours = serializers.DecimalField(max_digits=24, decimal_places=3)
    currency = serializers.CharField()
    prices = JobCostPriceSerializer(many=True)


class JobCostSerializer(serializers.Serializer):  # type: ignore[type-arg]
    job = serializers.IntegerField(source="job.pk")
    currency = serializers.CharField()
    amount = serializers.DecimalField(max_digits=24, decimal_places=2)
    live_amount = serializers.DecimalField(max_digits=24, decimal_places=2)
    gpu_hours = serializers.DecimalField(max_digits=24, decimal_places=3)
    cpu_hours = serializers.DecimalField(max_digits=24, decimal_places=3)
    accrued_until = serializers.DateTimeField(allow_null=True)
    running = serializers.BooleanField()
    rate_per_hour = serializers.DecimalField(max_digits=14, decimal_places=4, allow_null=True)
    attempts = JobCostAttemptSerializer(many=True)


class JobCostView(APIView):
    """What a job has cost: the ledger per attempt and per price applied, and, while it runs,
    the part not yet accrued at the rate that applies now."""

    @extend_schema(responses={200: JobCostSerializer})
    def get(self, request: Request, job_id: int) -> Response:
        job = get_object_or_404(Job.objects.select_related("pool"), pk=job_id, team_id__in=list(caller_roles(request)))
        return Response(JobCostSerializer(services.job_cost(job)).data)


# --- budgets ------------------------------------------------------------------------------------


class BudgetBurnSerializer(serializers.Serializer):  # type: ignore[type-arg]
    unit = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    days = serializers.ListField(child=serializers.DictField())
    forecast = serializers.ListField(child=serializers.DictField())


class BudgetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    OrganisationScopedViewSet,
):
    """Budgets: a team's seen by its members, an organisation's by all of its teams, every one
    of an organisation by its admins; created, changed and deleted by organisation admins."""

    queryset = Budget.objects.select_related("team", "organisation").order_by("name", "id")
    serializer_class = BudgetSerializer
    ordering_fields = ["name", "amount", "created_at"]
    ordering = ["name", "id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, queryset: QuerySet[Any], team_ids: list[int]) -> QuerySet[Any]:
        administered = administered_organisation_ids(self.request)
        slug = self.request.query_params.get("team")
        if slug and self.action == "list":  # a team's budgets and its organisation's
            queryset = queryset.filter(Q(team__slug=slug) | Q(organisation__teams__slug=slug))
        return queryset.filter(
            Q(team_id__in=team_ids)
            | Q(team__organisation_id__in=administered)
            | Q(organisation_id__in=caller_organisation_ids(self.request))
        )

    @staticmethod
    def organisation_of(budget: Budget) -> int | None:
        return budget.team.organisation_id if budget.team is not None else budget.organisation_id

    def _context_for(self, budgets: list[Budget]) -> dict[str, Any]:
        return {"standings": budget_rules.describe(budgets, timezone.now())}

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        budgets = list(page if page is not None else self.filter_queryset(self.get_queryset()))
        data = BudgetSerializer(
            budgets, many=True, context={**self.get_serializer_context(), **self._context_for(budgets)}
        ).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        budget = self.get_object()
        return Response(self._render(budget))

    def _render(self, budget: Budget) -> Any:
        return BudgetSerializer(budget, context={**self.get_serializer_context(), **self._context_for([budget])}).data

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not administers_any(request):
            raise PermissionDenied("Only an admin of the organisation can add budgets.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        budget = Budget(**serializer.validated_data)
        organisation_id = self.organisation_of(budget) if (budget.team_id or budget.organisation_id) else None
        if organisation_id is None:
            raise ValidationError({"team": ["Give a team or an organisation."]})
        if organisation_id not in administered_organisation_ids(request):
            # Named something the caller does not administer: nothing it can name.
            field = "team" if budget.team_id else "organisation"
            raise ValidationError({field: [f"Unknown {field} {dict(request.data).get(field)!r}."]})
        budget = services.create_budget(actor=self.actor, budget=budget)
        return Response(self._render(budget), status=201)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        budget = self.get_object()
        self.require_organisation_admin(self.organisation_of(budget), "change budgets")
        serializer = self.get_serializer(budget, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "team" in changes or "organisation" in changes:
            raise ValidationError({"team": ["A budget's team or organisation is fixed once created."]})
        budget = services.update_budget(actor=self.actor, budget=budget, changes=changes)
        return Response(self._render(budget))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        budget = self.get_object()
        self.require_organisation_admin(self.organisation_of(budget), "delete budgets")
        services.delete_budget(actor=self.actor, budget=budget)
        return Response(status=204)

    @extend_schema(responses={200: BudgetBurnSerializer})
    @action(detail=True, methods=["get"])
    def burn(self, request: Request, pk: Any = None) -> Response:
        """Spend per day of the current period, cumulative, and the forecast to its end."""
        budget = self.get_object()
        context = self._context_for([budget])["standings"].get(budget.pk)
        if context is None:
            raise ValidationError({"budget": ["This budget is not in force now (inactive, or outside its period)."]})
        standing = context["standing"]
        drawn = budget_rules.burn(standing, context["rates"], timezone.now())
        return Response(
            {
                "unit": budget.unit,
                "currency": budget.currency,
                "amount": budget.amount,
                "period_start": standing.period_start,
                "period_end": standing.period_end,
                **drawn,
            }
        )


def administers_any(request: Request) -> bool:
    return bool(administered_organisation_ids(request))
