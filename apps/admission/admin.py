"""The operator console for admission: pools, quotas (per team × pool, edited in one place, with
use, borrowing and lending now), cohorts, priority classes and the GPUs jobs hold.

Writes go through :mod:`apps.quotas.services`. Use figures come from the scheduler's own view
(:func:`apps.admission.state.load_state`), loaded once per page: a page makes the same number
of queries whatever the number of rows. A quota change can be previewed before it is saved:
the scheduler decides on the changed quota without writing anything, and the form shows which
pending jobs it would admit and which running jobs it would preempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.messages import WARNING
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse

from apps.admission import kueue_sync, scheduler
from apps.admission.models import Allocation
from apps.admission.state import load_state
from apps.inventory.admin import ClusterAdmin
from apps.inventory.models import Cluster
from apps.jobs.models import Job
from apps.quotas import services
from apps.quotas.models import Cohort, Pool, PriorityClass, Quota, TeamPolicy, default_fair_sharing_strategies
from apps.tenancy.models import Team

# Set on each row of a changelist page by its ChangeList (one scheduler load per page).
FIGURES = "_paddock_figures"


def _figures(obj: Any) -> dict[str, int]:
    figures: dict[str, int] = getattr(obj, FIGURES, {})
    return figures


def _show_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    for field, messages in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


# --- pools ----------------------------------------------------------------------------------
class PoolChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        state = load_state()
        for pool in self.result_list:
            ledger = state.ledgers.get(pool.pk)
            snapshot = state.snapshots.get(pool.pk)
            free = snapshot.free_gpus if snapshot is not None else state.cpu_free.get(pool.pk, 0)
            setattr(
                pool,
                FIGURES,
                {
                    "capacity": ledger.capacity if ledger else 0,
                    "used": ledger.used_total if ledger else 0,
                    "free": max(0, free),
                },
            )


@admin.register(Pool)
class PoolAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Pools come from the inventory (one per cluster × accelerator model, and its CPUs); the
    operator chooses how each places gangs."""

    list_display = ["name", "cluster", "accelerator_model", "placement", "capacity", "used", "free"]
    list_editable = ["placement"]
    list_filter = ["cluster", "placement", ("accelerator_model", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]
    list_select_related = ["cluster", "accelerator_model"]
    fields = ["name", "cluster", "accelerator_model", "placement"]
    readonly_fields = ["name", "cluster", "accelerator_model"]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return PoolChangeList

    @admin.display(description="Capacity")
    def capacity(self, obj: Pool) -> int:
        return _figures(obj).get("capacity", 0)

    @admin.display(description="Used now")
    def used(self, obj: Pool) -> int:
        return _figures(obj).get("used", 0)

    @admin.display(description="Free")
    def free(self, obj: Pool) -> int:
        return _figures(obj).get("free", 0)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the scheduler builds pools from the inventory

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Pool, form: Any, change: bool) -> None:
        services.set_pool_placement(actor=request.user, pool=obj, placement=obj.placement)


# --- quotas ---------------------------------------------------------------------------------
class QuotaForm(forms.ModelForm):  # type: ignore[type-arg]
    """Checked as the service checks it; a "Preview" submission validates without saving."""

    preview_requested = False  # set on the class by QuotaAdmin.get_form for a preview
    preview_ready = False

    class Meta:
        model = Quota
        fields = [
            "team",
            "pool",
            "guaranteed",
            "max",
            "lending_limit",
            "weight",
            "memory_guaranteed_gb",
            "memory_max_gb",
            "memory_lending_limit_gb",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        names = ["team", "pool", *services.QUOTA_LIMITS]
        if any(name in self.errors for name in names):
            return cleaned
        probe = Quota(pk=self.instance.pk)
        for name in names:
            if name in cleaned:
                setattr(probe, name, cleaned[name])
            elif name in ("team", "pool"):
                setattr(probe, f"{name}_id", getattr(self.instance, f"{name}_id"))
            else:
                setattr(probe, name, getattr(self.instance, name))
        try:
            services.check_quota(probe)
        except ValidationError as exc:
            _show_errors(self, exc)
        return cleaned

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if not self.preview_requested:
            return valid
        # A preview never saves: the admin re-renders the form, with what the scheduler would do.
        self.preview_ready = valid
        return False


class QuotaChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        state = load_state()
        for quota in self.result_list:
            ledger = state.ledgers.get(quota.pool_id)
            if ledger is None:
                continue
            share = ledger.share(quota.team_id)
            memory = state.memory_ledgers.get(quota.pool_id)
            memory_used = memory.shares[quota.team_id].used if memory and quota.team_id in memory.shares else None
            setattr(
                quota,
                FIGURES,
                {
                    "used": share.used,
                    "borrowed": share.borrowed,
                    "lent": ledger.lent_by(quota.team_id),
                    "memory_used": memory_used,
                },
            )


@dataclass(frozen=True)
class PreviewRow:
    job_id: int
    name: str
    team: str
    units: int
    detail: str


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Quotas per team × pool, edited in one place, against what each team uses, borrows and
    lends right now."""

    form = QuotaForm
    list_display = [
        "team",
        "pool",
        "guaranteed",
        "max",
        "lending_limit",
        "weight",
        "used",
        "borrowed",
        "lent",
        "memory_guaranteed_gb",
        "memory_max_gb",
        "memory_used",
    ]
    list_display_links = ["team"]
    list_editable = ["guaranteed", "max", "lending_limit", "weight"]
    list_filter = [("pool", admin.RelatedOnlyFieldListFilter), ("team", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["team__slug", "pool__name"]
    list_select_related = ["team", "pool"]
    ordering = ["pool__name", "team__slug"]
    autocomplete_fields = ["team"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["team", "pool"] if obj is not None else []  # a quota belongs to one team and pool

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return QuotaChangeList

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> type[forms.ModelForm]:  # type: ignore[type-arg]
        return super().get_changelist_form(request, form=QuotaForm, **kwargs)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if request.method == "POST" and "_preview" in request.POST:
            form = type(form.__name__, (form,), {"preview_requested": True})
        return form

    @admin.display(description="Used now")
    def used(self, obj: Quota) -> int:
        return _figures(obj).get("used", 0)

    @admin.display(description="Memory used now (GB)")
    def memory_used(self, obj: Quota) -> int | str:
        used = _figures(obj).get("memory_used")
        return "not counted" if used is None else used

    @admin.display(description="Borrowed")
    def borrowed(self, obj: Quota) -> int:
        return _figures(obj).get("borrowed", 0)

    @admin.display(description="Lent")
    def lent(self, obj: Quota) -> int:
        return _figures(obj).get("lent", 0)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        form = context["adminform"].form
        if getattr(form, "preview_ready", False):
            context.update(self.preview(form.instance))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @staticmethod
    def preview(quota: Quota) -> dict[str, Any]:
        """What the next scheduler pass would do were ``quota`` (unsaved) saved."""
        decisions = scheduler.preview([quota])
        ids = [job.job_id for job, _ in decisions.admitted] + [holder.job_id for holder, _ in decisions.preempted]
        jobs = Job.objects.select_related("team").in_bulk(ids)

        def row(job_id: int, units: int, detail: str) -> PreviewRow:
            job = jobs.get(job_id)
            name, team = (job.name, job.team.slug) if job is not None else ("?", "?")
            return PreviewRow(job_id=job_id, name=name, team=team, units=units, detail=detail)

        admitted = [
            row(
                job.job_id,
                job.units,
                "; ".join(f"{share.hostname} (GPUs {', '.join(map(str, share.gpus))})" for share in placement.shares)
                or "CPUs of the pool",
            )
            for job, placement in decisions.admitted
        ]
        preempted = [row(holder.job_id, holder.units, reason) for holder, reason in decisions.preempted]
        return {"preview": {"admitted": admitted, "preempted": preempted, "unit": f"{quota.pool.unit}s"}}

    def save_model(self, request: HttpRequest, obj: Quota, form: Any, change: bool) -> None:
        if change:
            changes = {name: getattr(obj, name) for name in form.changed_data if name in services.QUOTA_LIMITS}
            services.update_quota(actor=request.user, quota=obj, changes=changes)
        else:
            services.create_quota(actor=request.user, quota=obj)

    def delete_model(self, request: HttpRequest, obj: Quota) -> None:
        services.delete_quota(actor=request.user, quota=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Quota]) -> None:
        for quota in queryset.select_related("team", "pool"):
            services.delete_quota(actor=request.user, quota=quota)


class ThroughServices:
    """Admin saves and deletes that go through the quotas services (validation and audit): a
    subclass names the fields its update service takes and the three service calls."""

    service_fields: tuple[str, ...] = ()

    def create(self, actor: Any, obj: Any) -> None:
        raise NotImplementedError

    def update(self, actor: Any, obj: Any, changes: dict[str, Any]) -> None:
        raise NotImplementedError

    def delete(self, actor: Any, obj: Any) -> None:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            self.update(request.user, obj, {n: getattr(obj, n) for n in form.changed_data if n in self.service_fields})
        else:
            self.create(request.user, obj)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete(request.user, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete(request.user, obj)


# --- cohorts and priority classes -----------------------------------------------------------
class CohortForm(forms.ModelForm):  # type: ignore[type-arg]
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.select_related("organisation").order_by("slug"),
        required=False,
        widget=FilteredSelectMultiple("teams", is_stacked=False),
        help_text="Teams of the cohort's organisation; a team is in at most one cohort.",
    )
    # Kueue allows three lists, in order: one choice each (stored as the JSON list).
    fair_sharing_strategies = forms.TypedChoiceField(
        choices=[(",".join(choice), " then ".join(choice)) for choice in services.FAIR_SHARING_STRATEGY_LISTS],
        coerce=lambda value: [part for part in str(value).split(",") if part],
        empty_value=None,
        required=False,
        help_text="Kueue's preemptionStrategies, tried in order (with fair sharing on).",
    )

    class Meta:
        model = Cohort
        fields = [
            "organisation",
            "name",
            "description",
            "reclaim_from_borrowers",
            "preempt_lower_priority",
            "preempt_while_borrowing",
            "fair_sharing",
            "fair_sharing_strategies",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["teams"].initial = list(self.instance.teams.values_list("pk", flat=True))
        current = self.instance.fair_sharing_strategies or default_fair_sharing_strategies()
        self.initial["fair_sharing_strategies"] = ",".join(current)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("fair_sharing_strategies"):
            cleaned["fair_sharing_strategies"] = default_fair_sharing_strategies()
        organisation = cleaned.get("organisation") or getattr(self.instance, "organisation", None)
        if organisation is not None and "name" in cleaned:
            probe = Cohort(
                pk=self.instance.pk,
                organisation=organisation,
                name=cleaned["name"],
                fair_sharing_strategies=cleaned.get("fair_sharing_strategies") or [],
            )
            try:
                services.check_cohort(probe, cleaned.get("teams") or ())
            except ValidationError as exc:
                _show_errors(self, exc)
        return cleaned


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = CohortForm
    list_display = [
        "name",
        "organisation",
        "team_count",
        "reclaim_from_borrowers",
        "preempt_lower_priority",
        "preempt_while_borrowing",
        "fair_sharing",
    ]
    list_filter = ["organisation", "fair_sharing"]
    search_fields = ["name", "description"]
    list_select_related = ["organisation"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cohort]:
        return super().get_queryset(request).annotate(n_teams=Count("teams"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["organisation"] if obj is not None else []

    @admin.display(description="Teams", ordering="n_teams")
    def team_count(self, obj: Any) -> int:
        return int(obj.n_teams)

    def save_model(self, request: HttpRequest, obj: Cohort, form: Any, change: bool) -> None:
        teams = form.cleaned_data.get("teams") or []
        if change:
            changes = {name: getattr(obj, name) for name in form.changed_data if name in services.COHORT_FIELDS}
            services.update_cohort(actor=request.user, cohort=obj, changes=changes, teams=teams)
        else:
            services.create_cohort(actor=request.user, cohort=obj, teams=teams)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # the members were set by the service (Team.cohort), nothing else relates

    def delete_model(self, request: HttpRequest, obj: Cohort) -> None:
        services.delete_cohort(actor=request.user, cohort=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Cohort]) -> None:
        for cohort in queryset:
            services.delete_cohort(actor=request.user, cohort=cohort)


class TeamPolicyForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = TeamPolicy
        fields = ["team", *services.TEAM_POLICY_FIELDS]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        team = cleaned.get("team") or getattr(self.instance, "team", None)
        if team is not None:
            probe = TeamPolicy(pk=self.instance.pk, team=team)
            for name in services.TEAM_POLICY_FIELDS:
                if name in cleaned:
                    setattr(probe, name, cleaned[name])
            try:
                services.check_team_policy(probe)
            except ValidationError as exc:
                _show_errors(self, exc)
        return cleaned


@admin.register(TeamPolicy)
class TeamPolicyAdmin(ThroughServices, admin.ModelAdmin):  # type: ignore[type-arg]
    """A team's own preemption policy (Kueue's ClusterQueue ``preemption`` and
    ``flavorFungibility``); a team without one follows its cohort's switches."""

    form = TeamPolicyForm
    list_display = [
        "team",
        "within_team",
        "reclaim_within_cohort",
        "borrow_within_cohort",
        "borrow_max_priority_threshold",
        "when_can_borrow",
        "when_can_preempt",
    ]
    list_filter = ["within_team", "reclaim_within_cohort", "borrow_within_cohort", "team__organisation"]
    search_fields = ["team__slug"]
    list_select_related = ["team"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["team"] if obj is not None else []

    service_fields = services.TEAM_POLICY_FIELDS

    def create(self, actor: Any, obj: TeamPolicy) -> None:
        services.create_team_policy(actor=actor, policy=obj)

    def update(self, actor: Any, obj: TeamPolicy, changes: dict[str, Any]) -> None:
        services.update_team_policy(actor=actor, policy=obj, changes=changes)

    def delete(self, actor: Any, obj: TeamPolicy) -> None:
        services.delete_team_policy(actor=actor, policy=obj)


@admin.register(PriorityClass)
class PriorityClassAdmin(ThroughServices, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "organisation", "value", "preemptible", "description"]
    list_filter = ["organisation", "preemptible"]
    search_fields = ["name", "description"]
    list_select_related = ["organisation"]
    fields = ["organisation", "name", "value", "preemptible", "description"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["organisation"] if obj is not None else []

    service_fields = services.PRIORITY_CLASS_FIELDS

    def create(self, actor: Any, obj: PriorityClass) -> None:
        services.create_priority_class(actor=actor, priority_class=obj)

    def update(self, actor: Any, obj: PriorityClass, changes: dict[str, Any]) -> None:
        services.update_priority_class(actor=actor, priority_class=obj, changes=changes)

    def delete(self, actor: Any, obj: PriorityClass) -> None:
        services.delete_priority_class(actor=actor, priority_class=obj)


# --- allocations ----------------------------------------------------------------------------
class ActiveFilter(admin.SimpleListFilter):
    title = "held"
    parameter_name = "held"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Held now"), ("no", "Released")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(released_at__isnull=False)
        return queryset


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The GPUs admitted jobs hold (the scheduler writes them; the admin inspects)."""

    list_display = ["accelerator", "node", "job", "attempt", "created_at", "released_at"]
    list_filter = [ActiveFilter, "node__cluster"]
    search_fields = ["node__hostname", "job__name"]
    list_select_related = ["accelerator__node__cluster", "node__cluster", "job", "attempt"]
    date_hierarchy = "created_at"
    readonly_fields = ["job", "attempt", "accelerator", "node", "created_at", "released_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Kueue, from the cluster's page (inventory's console; admission adds the action) --------
@admin.action(description="Apply Kueue objects")
def apply_kueue_objects(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Cluster]) -> None:  # type: ignore[type-arg]
    """Queued, not run here (it calls the cluster); the outcome is in the audit log."""
    clusters = list(queryset)
    wanted = [cluster.pk for cluster in clusters if kueue_sync.kueue_enabled(cluster)]
    if wanted:
        kueue_sync.request_sync_on_commit(wanted, actor=request.user)
        names = ", ".join(sorted(cluster.name for cluster in clusters if cluster.pk in wanted))
        modeladmin.message_user(request, f"Kueue objects queued to apply on {names}; the audit log has the outcome.")
    others = sorted(cluster.name for cluster in clusters if cluster.pk not in wanted)
    if others:
        modeladmin.message_user(
            request,
            f'Not Kueue clusters (kind kubernetes with "kueue": true in their settings): {", ".join(others)}.',
            level=WARNING,
        )


ClusterAdmin.actions = [*ClusterAdmin.actions, apply_kueue_objects]
