"""Operators' view: team checkpoint settings, checkpoints (read-only) and the model registry."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from apps.checkpoints import services
from apps.checkpoints.choices import Stage
from apps.checkpoints.models import Checkpoint, Model, ModelVersion, TeamCheckpointSettings
from apps.core import audit


@admin.register(TeamCheckpointSettings)
class TeamCheckpointSettingsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["team", "storage", "keep_latest", "keep_best", "best_metric", "best_mode"]
    list_select_related = ["team", "storage"]
    autocomplete_fields = ["team"]

    def save_model(self, request: HttpRequest, obj: TeamCheckpointSettings, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit.record(
            "checkpoints.settings_changed" if change else "checkpoints.settings_created",
            obj,
            actor=request.user,  # type: ignore[arg-type]
            team_id=obj.team_id,
            keep_latest=obj.keep_latest,
            keep_best=obj.keep_best,
        )


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: jobs report checkpoints, retention deletes them."""

    list_display = ["id", "job", "team", "step", "state", "size", "file_count", "created_at", "reason"]
    list_filter = ["state", "team"]
    search_fields = ["uri", "job__name"]
    list_select_related = ["job", "team"]
    readonly_fields = [field.name for field in Checkpoint._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Size", ordering="bytes")
    def size(self, obj: Checkpoint) -> str:
        return "-" if obj.bytes is None else filesizeformat(obj.bytes)

    @admin.display(description="Kept or deleted because")
    def reason(self, obj: Checkpoint) -> str:
        return obj.deletion_reason or obj.retained_because


class VersionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ModelVersion
    extra = 0
    fields = ["version", "stage", "uri", "checkpoint", "promoted_by", "promoted_at", "created_at"]
    readonly_fields = ["version", "stage", "uri", "checkpoint", "promoted_by", "promoted_at", "created_at"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "team", "created_at"]
    list_filter = ["team"]
    search_fields = ["name"]
    list_select_related = ["team"]
    inlines = [VersionInline]
    readonly_fields = ["created_by"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Stages change through the actions (audited; a new production version archives the old)."""

    list_display = ["__str__", "stage", "uri", "promoted_by", "promoted_at", "created_at"]
    list_filter = ["stage", "model__team"]
    search_fields = ["model__name", "uri"]
    list_select_related = ["model", "promoted_by"]
    readonly_fields = [field.name for field in ModelVersion._meta.fields]
    actions = ["to_staging", "to_production", "to_archived"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _stage(self, request: HttpRequest, queryset: QuerySet[ModelVersion], stage: str) -> None:
        for version in queryset:
            services.set_stage(actor=request.user, version=version, stage=stage)  # type: ignore[arg-type]
        self.message_user(request, f"{queryset.count()} version(s) moved to {stage}.", level=messages.SUCCESS)

    @admin.action(description="Move to staging")
    def to_staging(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._stage(request, queryset, Stage.STAGING)

    @admin.action(description="Promote to production (archives the current one)")
    def to_production(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Promote one version at a time.", level=messages.ERROR)
            return
        self._stage(request, queryset, Stage.PRODUCTION)

    @admin.action(description="Archive")
    def to_archived(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._stage(request, queryset, Stage.ARCHIVED)
