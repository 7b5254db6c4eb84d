from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.tenancy import services
from apps.tenancy.models import ApiToken, Membership, Organisation, Team


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["slug", "name", "organisation", "default_cluster"]
    list_filter = ["organisation"]
    search_fields = ["slug", "name"]
    list_select_related = ["organisation", "default_cluster"]
    inlines = [MembershipInline]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "prefix", "user", "team", "scope", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["scope", "team"]
    search_fields = ["name", "key_id", "user__username"]
    list_select_related = ["user", "team"]
    readonly_fields = ["key_id", "secret_hash", "last_used_at", "created_at"]
    # Tokens are created where their secret can be shown once: the dashboard, the API and
    # `manage.py create_token`. The admin can only inspect and revoke.
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            services.revoke_token(actor=request.user, token=token)  # type: ignore[arg-type]
