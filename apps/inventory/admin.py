"""The operator console: the inventory in the Django admin. State changes go through the
services (actions); lists annotate and select what they show, so a page makes the same
number of queries whatever the fleet's size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Prefetch, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone
from django.utils.html import format_html

from apps.core import audit
from apps.core.errors import Conflict
from apps.inventory import services
from apps.inventory.choices import FILESYSTEM_STORAGE_KINDS, NodeSource
from apps.inventory.models import (
    Accelerator,
    AcceleratorModel,
    Cluster,
    InterconnectDomain,
    MaintenanceWindow,
    NetworkFabric,
    Node,
    StorageBackend,
)
from apps.inventory.querysets import stale_before
from apps.tenancy.models import Team

SHARED_CLUSTER_WARNING = (
    "A Ray cluster is one trust domain: jobs on it run as the same OS user and can reach each "
    "other and the cluster's dashboard. Put teams that must not see each other on different clusters."
)


class ClusterForm(forms.ModelForm):  # type: ignore[type-arg]
    auth_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Ray auth token (RAY_AUTH_MODE=token). Stored encrypted; leave empty to keep the current one.",
    )
    clear_auth_token = forms.BooleanField(required=False, help_text="Remove the stored token.")
    kubeconfig = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Kubernetes: a kubeconfig with inline credentials (token or client certificate data). "
        "Checked and stored encrypted; never shown again. Commands (exec, auth-provider) and file "
        "paths are refused. Leave empty to keep the current one.",
    )

    class Meta:
        model = Cluster
        fields = ["organisation", "name", "kind", "address", "kubernetes", "trusted_network", "allowed_teams"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["address"].required = False  # a Kubernetes cluster's comes from its kubeconfig

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kubeconfig = cleaned.get("kubeconfig") or ""
        if kubeconfig and cleaned.get("kind") != "kubernetes":
            self.add_error("kubeconfig", "A kubeconfig is for a cluster of kind kubernetes.")
        elif kubeconfig:
            try:
                server, credentials = services.kubeconfig_for_storage(kubeconfig)
            except ValidationError as exc:
                raise ValidationError(exc.message_dict) from exc  # type: ignore[arg-type]
            if cleaned.get("address") and cleaned["address"].rstrip("/") != server.rstrip("/"):
                self.add_error("address", f"The kubeconfig's server is {server}: leave the address empty or give that.")
            cleaned["address"] = server
            cleaned["kubernetes_credentials"] = credentials
        if cleaned.get("kind") == "kubernetes":
            try:
                services.check_kubernetes_settings(cleaned.get("kubernetes") or {})
            except ValidationError as exc:
                raise ValidationError(exc.message_dict) from exc  # type: ignore[arg-type]
        if not cleaned.get("address") and not self.has_error("address"):
            self.add_error("address", "This field is required (for Kubernetes, give a kubeconfig).")
        if cleaned.get("clear_auth_token"):
            has_token = False
        else:
            has_token = bool(cleaned.get("auth_token") or kubeconfig) or self.instance.has_auth_token
        try:
            services.check_cluster_trust(
                kind=cleaned.get("kind", ""),
                has_auth_token=has_token,
                trusted_network=bool(cleaned.get("trusted_network")),
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from exc  # type: ignore[arg-type]
        return cleaned


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ClusterForm
    list_display = [
        "name",
        "kind",
        "address",
        "state",
        "organisation",
        "has_auth_token",
        "trusted_network",
        "teams",
        "last_seen_at",
        "last_reconciled_at",
    ]
    list_filter = ["kind", "state", "organisation", "trusted_network"]
    search_fields = ["name", "address"]
    list_select_related = ["organisation"]
    filter_horizontal = ["allowed_teams"]
    readonly_fields = [
        "state",
        "state_message",
        "total_resources",
        "available_resources",
        "last_seen_at",
        "last_reconciled_at",
        "has_auth_token",
    ]
    actions = ["refresh", "discover_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cluster]:
        teams = Team.objects.select_related("organisation").order_by("slug")
        return super().get_queryset(request).prefetch_related(Prefetch("allowed_teams", queryset=teams))

    @admin.display(boolean=True, description="Auth token set")
    def has_auth_token(self, obj: Cluster) -> bool:
        return obj.has_auth_token

    @admin.display(description="Teams allowed")
    def teams(self, obj: Cluster) -> str:
        """Who may submit; flagged when teams of several organisations share one trust domain."""
        listed = [team.slug for team in obj.allowed_teams.all()]
        allowed = ", ".join(listed) if listed else f"every team of {obj.organisation.slug}"
        shared = obj.organisations_sharing()
        if shared:
            return format_html(
                '{} <strong style="color:#ba2121" title="{}">shared by {} organisations</strong>',
                allowed,
                SHARED_CLUSTER_WARNING,
                len(shared),
            )
        return allowed

    def save_model(self, request: HttpRequest, obj: Cluster, form: Any, change: bool) -> None:
        if form.cleaned_data.get("clear_auth_token"):
            obj.set_auth_token(None)
        elif form.cleaned_data.get("kubernetes_credentials"):
            obj.set_auth_token(form.cleaned_data["kubernetes_credentials"])
            obj.address = form.cleaned_data["address"]
        elif form.cleaned_data.get("auth_token"):
            obj.set_auth_token(form.cleaned_data["auth_token"])
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        cluster = self.get_queryset(request).get(pk=form.instance.pk)
        audit.record(
            "inventory.cluster_updated" if change else "inventory.cluster_registered",
            cluster,
            actor=request.user,
            trusted_network=cluster.trusted_network,
            has_auth_token=cluster.has_auth_token,
            allowed_teams=[team.slug for team in cluster.allowed_teams.all()],
        )
        shared = cluster.organisations_sharing()
        if shared:
            self.message_user(
                request,
                f"Cluster {cluster.name} is shared by teams of {len(shared)} organisations "
                f"({', '.join(shared)}). {SHARED_CLUSTER_WARNING}",
                level=messages.WARNING,
            )

    @admin.action(description="Refresh capacity from the cluster")
    def refresh(self, request: HttpRequest, queryset: Any) -> None:
        for cluster in queryset:
            services.refresh_capacity(cluster)

    @admin.action(description="Discover nodes now")
    def discover_now(self, request: HttpRequest, queryset: QuerySet[Cluster]) -> None:
        """Queued, not run here: asking a cluster may take seconds (the worker does it, as for
        the periodic pass, but asks even a cluster whose breaker is open)."""
        names = services.queue_discovery(list(queryset), actor=request.user)
        if names:
            self.message_user(request, f"Discovery queued for {', '.join(names)}; reload to see its nodes.")
        skipped = sorted(set(queryset.values_list("name", flat=True)) - set(names))
        if skipped:
            self.message_user(
                request, f"No node discovery for clusters of this kind: {', '.join(skipped)}.", level=messages.WARNING
            )


def _audit_save(action: str, request: HttpRequest, obj: Any, change: bool) -> None:
    audit.record(f"inventory.{action}_{'updated' if change else 'registered'}", obj, actor=request.user)


# --- the accelerator catalog --------------------------------------------------------------
@admin.register(AcceleratorModel)
class AcceleratorModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "name",
        "vendor",
        "architecture",
        "memory_gb",
        "memory_bandwidth_gbps",
        "bf16_tflops",
        "fp8_tflops",
        "supports_fp8",
        "scale_up_link",
        "in_fleet",
    ]
    list_filter = ["vendor", "supports_fp8", "supports_bf16"]
    search_fields = ["name", "architecture", "ray_accelerator_type", "match_names"]
    fieldsets = [
        (None, {"fields": ["name", "vendor", "architecture", "source_url", "notes"]}),
        ("Memory", {"fields": ["memory_gb", "memory_type", "memory_bandwidth_gbps"]}),
        (
            "Compute (dense)",
            {
                "fields": [
                    "bf16_tflops",
                    "fp16_tflops",
                    "fp8_tflops",
                    "fp32_tflops",
                    "sparse_multiplier",
                    "mamf_bf16_tflops",
                    "supports_bf16",
                    "supports_fp8",
                ]
            },
        ),
        (
            "Links and power",
            {
                "fields": [
                    "scale_up_link",
                    "scale_up_bandwidth_gbps",
                    "nvlink_domain_size",
                    "pcie_generation",
                    "tdp_watts",
                ]
            },
        ),
        (
            "Recognition",
            {
                "fields": ["match_names", "pci_device_ids", "ray_accelerator_type"],
                "description": "How discovery maps what a host reports to this model. To map an unrecognised "
                "accelerator, add its reported name or PCI device id here; the next discovery pass applies it.",
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AcceleratorModel]:
        return super().get_queryset(request).annotate(accelerator_count=Count("accelerators"))

    @admin.display(description="In fleet", ordering="accelerator_count")
    def in_fleet(self, obj: Any) -> int:
        return int(obj.accelerator_count)

    def save_model(self, request: HttpRequest, obj: AcceleratorModel, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit.record("inventory.catalog_updated" if change else "inventory.catalog_added", obj, actor=request.user)


# --- nodes --------------------------------------------------------------------------------
class HasFreeGpusFilter(admin.SimpleListFilter):
    title = "free GPUs"
    parameter_name = "free_gpus"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has free GPUs"), ("no", "No free GPUs")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(gpus_free__gt=0)
        if self.value() == "no":
            return queryset.filter(gpus_free=0)
        return queryset


class MaintenanceWindowForm(forms.ModelForm):  # type: ignore[type-arg]
    """A new window is checked as the service will check it (errors appear on the form)."""

    class Meta:
        model = MaintenanceWindow
        fields = ["node", "starts_at", "ends_at", "reason"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pk is None and not self.errors:
            try:
                services.validate_maintenance(
                    cleaned.get("starts_at"), cleaned.get("ends_at"), cleaned.get("reason", "")
                )
            except ValidationError as exc:
                raise ValidationError(exc.message_dict) from exc  # type: ignore[arg-type]
        return cleaned


class MaintenanceWindowInline(admin.TabularInline):  # type: ignore[type-arg]
    """Windows are added (through the service) or removed, never edited in place."""

    model = MaintenanceWindow
    form = MaintenanceWindowForm
    fields = ["starts_at", "ends_at", "reason", "created_by"]
    readonly_fields = ["created_by"]
    extra = 0

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AcceleratorInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Accelerator
    fields = ["index", "reported_name", "model", "uuid", "health", "memory_used_mib", "memory_total_mib"]
    readonly_fields = fields  # type: ignore[assignment]
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Accelerator]:
        return super().get_queryset(request).select_related("model", "node__cluster")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["hostname", "cluster", "state", "gpus", "free_gpus", "heartbeat", "state_reason"]
    list_filter = [
        "cluster",
        "state",
        ("accelerators__model", admin.RelatedOnlyFieldListFilter),
        HasFreeGpusFilter,
        "source",
    ]
    search_fields = ["hostname", "labels"]
    list_select_related = ["cluster"]
    readonly_fields = [
        "state",
        "state_reason",
        "cordoned_on_cluster",
        "cluster_sync",
        "source",
        "external_id",
        "last_heartbeat_at",
    ]
    inlines = [MaintenanceWindowInline, AcceleratorInline]
    actions = ["cordon", "drain", "uncordon", "mark_down"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Node]:
        return super().get_queryset(request).with_free_gpus()  # type: ignore[attr-defined,no-any-return]

    @admin.display(description="GPUs", ordering="gpus_total")
    def gpus(self, obj: Any) -> int:
        return int(obj.gpus_total)

    @admin.display(description="Free", ordering="gpus_free")
    def free_gpus(self, obj: Any) -> int:
        return int(obj.gpus_free)

    @admin.display(description="Last heartbeat", ordering="last_heartbeat_at")
    def heartbeat(self, obj: Node) -> str:
        """Stale: a discovered node silent for three discovery passes (an entered one never is)."""
        when = "never" if obj.last_heartbeat_at is None else formats.localize(timezone.localtime(obj.last_heartbeat_at))
        silent = obj.last_heartbeat_at is None or obj.last_heartbeat_at < stale_before(timezone.now())
        if silent and obj.source != NodeSource.MANUAL:
            return format_html('{} <strong style="color:#ba2121">stale</strong>', when)
        return str(when)

    def save_model(self, request: HttpRequest, obj: Node, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _audit_save("node", request, obj, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not MaintenanceWindow:
            super().save_formset(request, form, formset, change)
            return
        new_windows = formset.save(commit=False)  # deletions are returned, not done
        for window in new_windows:
            if window.pk is None:
                services.schedule_maintenance(
                    actor=request.user,
                    node=form.instance,
                    starts_at=window.starts_at,
                    ends_at=window.ends_at,
                    reason=window.reason,
                )
        for window in formset.deleted_objects:
            services.cancel_maintenance(actor=request.user, window=window)

    def _operate(
        self, request: HttpRequest, queryset: QuerySet[Node], operation: Callable[..., Node], done: str
    ) -> None:
        moved, refused = 0, []
        reason = f"{done.capitalize()} by {request.user.get_username()} in the admin."
        for node in queryset:
            try:
                operation(actor=request.user, node=node, reason=reason)
                moved += 1
            except Conflict as exc:
                refused.append(str(exc))
        self.message_user(request, f"{moved} node(s) {done}.")
        if refused:
            self.message_user(request, " ".join(refused), level=messages.WARNING)

    @admin.action(description="Cordon: take no new work")
    def cordon(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        self._operate(request, queryset, services.cordon_node, "cordoned")

    @admin.action(description="Drain: no new work; running work finishes")
    def drain(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        self._operate(request, queryset, services.drain_node, "draining")

    @admin.action(description="Uncordon: return to service")
    def uncordon(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        self._operate(request, queryset, services.uncordon_node, "returned to service")

    @admin.action(description="Mark down")
    def mark_down(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        self._operate(request, queryset, services.mark_node_down, "marked down")


# --- accelerators and interconnect --------------------------------------------------------
class UnrecognisedFilter(admin.SimpleListFilter):
    title = "catalog match"
    parameter_name = "unrecognised"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Unrecognised (no catalog model)"), ("no", "Recognised")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(model__isnull=True)
        if self.value() == "no":
            return queryset.filter(model__isnull=False)
        return queryset


@admin.register(Accelerator)
class AcceleratorAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """What hosts report: read-only once recorded (discovery rewrites it on every pass)."""

    list_display = [
        "node",
        "index",
        "reported_name",
        "model",
        "health",
        "mig_mode",
        "memory",
        "utilisation_percent",
        "last_seen_at",
    ]
    list_filter = ["model", UnrecognisedFilter, "health", "mig_mode", "node__cluster"]
    search_fields = ["uuid", "reported_name", "node__hostname"]
    list_select_related = ["node__cluster", "model"]
    autocomplete_fields = ["node"]

    @admin.display(description="Memory used / total (MiB)")
    def memory(self, obj: Accelerator) -> str:
        if obj.memory_total_mib is None:
            return "-"
        used = "?" if obj.memory_used_mib is None else str(obj.memory_used_mib)
        return f"{used} / {obj.memory_total_mib}"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(InterconnectDomain)
class InterconnectDomainAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["node", "kind", "link_generation", "bandwidth_gbps", "accelerator_count"]
    list_filter = ["kind", "node__cluster"]
    search_fields = ["node__hostname"]
    list_select_related = ["node__cluster"]
    autocomplete_fields = ["node", "accelerators"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[InterconnectDomain]:
        return super().get_queryset(request).annotate(n_accelerators=Count("accelerators"))

    @admin.display(description="Accelerators", ordering="n_accelerators")
    def accelerator_count(self, obj: Any) -> int:
        return int(obj.n_accelerators)


# --- fabrics and storage ------------------------------------------------------------------
@admin.register(NetworkFabric)
class NetworkFabricAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "kind", "gbps_per_node", "rdma", "organisation", "node_count"]
    list_filter = ["kind", "rdma", "organisation"]
    search_fields = ["name"]
    list_select_related = ["organisation"]
    filter_horizontal = ["nodes"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[NetworkFabric]:
        return super().get_queryset(request).annotate(n_nodes=Count("nodes"))

    @admin.display(description="Nodes", ordering="n_nodes")
    def node_count(self, obj: Any) -> int:
        return int(obj.n_nodes)

    def save_model(self, request: HttpRequest, obj: NetworkFabric, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _audit_save("fabric", request, obj, change)


class StorageBackendForm(forms.ModelForm):  # type: ignore[type-arg]
    """The S3 secret is written here and never shown back (it is stored encrypted)."""

    secret_access_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="S3: the secret for the access key id. Leave empty to keep the stored one.",
    )
    clear_secret = forms.BooleanField(required=False, help_text="Forget the stored secret")

    class Meta:
        model = StorageBackend
        fields = [
            "organisation",
            "name",
            "kind",
            "uri",
            "purpose",
            "endpoint_url",
            "region",
            "access_key_id",
            "capacity_bytes",
            "used_bytes",
        ]

    def save(self, commit: bool = True) -> StorageBackend:
        backend: StorageBackend = super().save(commit=False)
        if self.cleaned_data.get("clear_secret"):
            backend.set_secret_access_key(None)
        elif self.cleaned_data.get("secret_access_key"):
            backend.set_secret_access_key(self.cleaned_data["secret_access_key"])
        if commit:
            backend.save()
        return backend


@admin.register(StorageBackend)
class StorageBackendAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = StorageBackendForm
    list_display = ["name", "kind", "purpose", "uri", "capacity", "used", "read_gbps", "write_gbps", "measured_at"]
    list_filter = ["kind", "purpose", "organisation"]
    search_fields = ["name", "uri"]
    list_select_related = ["organisation"]
    readonly_fields = ["read_gbps", "write_gbps", "measured_at"]
    actions = ["probe_now"]

    @admin.display(description="Capacity", ordering="capacity_bytes")
    def capacity(self, obj: StorageBackend) -> str:
        return "-" if obj.capacity_bytes is None else filesizeformat(obj.capacity_bytes)

    @admin.display(description="Used")
    def used(self, obj: StorageBackend) -> str:
        if obj.used_bytes is None:
            return "-"
        if not obj.capacity_bytes:
            return filesizeformat(obj.used_bytes)
        return f"{100 * obj.used_bytes / obj.capacity_bytes:.1f}%"

    def save_model(self, request: HttpRequest, obj: StorageBackend, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _audit_save("storage", request, obj, change)

    @admin.action(description="Probe now (file systems: measure throughput and capacity)")
    def probe_now(self, request: HttpRequest, queryset: QuerySet[StorageBackend]) -> None:
        for backend in queryset:
            if backend.kind not in FILESYSTEM_STORAGE_KINDS:
                self.message_user(request, f"{backend.name}: only file systems can be probed.", level=messages.WARNING)
                continue
            try:
                probe = services.probe_storage(actor=request.user, backend=backend)
            except services.StorageProbeError as exc:
                self.message_user(request, f"{backend.name}: {exc}", level=messages.ERROR)
                continue
            self.message_user(
                request, f"{backend.name}: write {probe.write_gbps:.2f} GB/s, read {probe.read_gbps:.2f} GB/s."
            )


# --- maintenance --------------------------------------------------------------------------
class WindowStatusFilter(admin.SimpleListFilter):
    title = "when"
    parameter_name = "when"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("now", "In progress"), ("upcoming", "Upcoming"), ("past", "Past")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        if self.value() == "now":
            return queryset.filter(starts_at__lte=now, ends_at__gt=now)
        if self.value() == "upcoming":
            return queryset.filter(starts_at__gt=now)
        if self.value() == "past":
            return queryset.filter(ends_at__lte=now)
        return queryset


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Windows are scheduled and cancelled through the services; never edited in place."""

    form = MaintenanceWindowForm
    list_display = ["node", "starts_at", "ends_at", "status", "reason", "created_by"]
    list_filter = [WindowStatusFilter, "node__cluster"]
    search_fields = ["node__hostname", "reason"]
    list_select_related = ["node__cluster", "created_by"]
    date_hierarchy = "starts_at"
    autocomplete_fields = ["node"]

    @admin.display(description="Status")
    def status(self, obj: MaintenanceWindow) -> str:
        now = timezone.now()
        if obj.ends_at <= now:
            return "past"
        return "in progress" if obj.starts_at <= now else "upcoming"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: MaintenanceWindow, form: Any, change: bool) -> None:
        window = services.schedule_maintenance(
            actor=request.user, node=obj.node, starts_at=obj.starts_at, ends_at=obj.ends_at, reason=obj.reason
        )
        obj.pk, obj.created_by, obj.created_at, obj.updated_at = (
            window.pk,
            window.created_by,
            window.created_at,
            window.updated_at,
        )
        obj._state.adding, obj._state.db = False, window._state.db

    def delete_model(self, request: HttpRequest, obj: MaintenanceWindow) -> None:
        services.cancel_maintenance(actor=request.user, window=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[MaintenanceWindow]) -> None:
        for window in queryset.select_related("node__cluster"):
            services.cancel_maintenance(actor=request.user, window=window)
