from django.contrib import admin

from apps.serving.models import Endpoint, EndpointEvent, EndpointToken, HealthSample, Revision


class RevisionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Revision
    extra = 0
    fields = ("number", "state", "traffic_percent", "target_percent", "model_version", "model_uri", "message")
    readonly_fields = fields
    can_delete = False


class TokenInline(admin.TabularInline):  # type: ignore[type-arg]
    model = EndpointToken
    extra = 0
    fields = ("name", "prefix", "created_by", "created_at", "revoked_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "team", "cluster", "state", "replicas_running", "min_replicas", "max_replicas", "url"]
    list_filter = ["state", "runtime", "cluster", "team"]
    search_fields = ["name", "team__slug"]
    list_select_related = ["team", "cluster"]
    readonly_fields = [
        "state",
        "state_reason",
        "url",
        "job",
        "replicas_running",
        "unhealthy_since",
        "generation",
        "applied",
        "stats_since",
        "deleted_at",
        "created_by",
    ]
    inlines = [RevisionInline, TokenInline]


@admin.register(EndpointEvent)
class EndpointEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["endpoint", "kind", "message", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["endpoint__team"]


@admin.register(HealthSample)
class HealthSampleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["endpoint", "at", "requests", "errors", "p50_ms", "p95_ms", "replicas"]
    list_select_related = ["endpoint__team"]
