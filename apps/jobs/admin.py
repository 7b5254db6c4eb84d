from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.errors import Conflict
from apps.jobs import services
from apps.jobs.models import Attempt, AttemptLogChunk, CodePackage, Job, JobEvent

LOG_TAIL = 20_000  # characters of a log the attempt page shows


class AttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Attempt
    extra = 0
    can_delete = False
    fields = ["number", "state", "id", "exit_code", "cause", "message", "dispatched_at", "started_at", "finished_at"]
    readonly_fields = fields  # type: ignore[assignment]
    show_change_link = True


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "name", "team", "cluster", "kind", "state", "submitted_by", "created_at"]
    list_filter = ["state", "kind", "team", "cluster"]
    search_fields = ["name", "id"]
    list_select_related = ["team", "cluster", "submitted_by"]
    date_hierarchy = "created_at"
    inlines = [AttemptInline]
    actions = ["cancel"]
    # Jobs are changed only through their services (state machine); the admin inspects.
    readonly_fields = [f.name for f in Job._meta.fields]  # type: ignore[assignment]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Cancel selected jobs")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        cancelled = 0
        for job in queryset:
            try:
                services.cancel_job(actor=request.user, job=job)  # type: ignore[arg-type]
                cancelled += 1
            except Conflict:
                pass
        self.message_user(request, f"Cancelled {cancelled} job(s).")


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "job", "number", "state", "dispatched_at", "started_at", "finished_at"]
    list_filter = ["state"]
    list_select_related = ["job"]
    readonly_fields = [*(f.name for f in Attempt._meta.fields), "log_tail"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Log (its last characters)")
    def log_tail(self, obj: Attempt) -> str:
        return AttemptLogChunk.objects.window(obj.pk, max(obj.log_length - LOG_TAIL, 0), LOG_TAIL)


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "job", "kind", "from_state", "to_state", "actor", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["job", "actor"]
    readonly_fields = [f.name for f in JobEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CodePackage)
class CodePackageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Uploaded code packages, read-only (their bytes are never shown)."""

    list_display = ["id", "team", "short_sha256", "size_bytes", "file_count", "created_by", "created_at"]
    list_filter = ["team"]
    search_fields = ["sha256"]
    list_select_related = ["team", "created_by"]
    exclude = ["content"]
    readonly_fields = [f.name for f in CodePackage._meta.fields if f.name != "content"]

    @admin.display(description="sha256")
    def short_sha256(self, package: CodePackage) -> str:
        return package.sha256[:16]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
