from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.tenancy import services
from apps.tenancy.models import ApiToken, Membership, Organisation, OrganisationMembership, Team


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    """The team's members: added, re-roled and removed through the services (audited)."""

    model = Membership
    fields = ["user", "role"]
    extra = 1
    autocomplete_fields = ["user"]


class OrganisationAdminInline(admin.TabularInline):  # type: ignore[type-arg]
    """The organisation's admins: granted (add a row) or revoked (delete it) through the
    services, so each change is audited; a row is never edited in place."""

    model = OrganisationMembership
    fields = ["user", "role", "created_at"]
    readonly_fields = ["role", "created_at"]
    autocomplete_fields = ["user"]
    extra = 0
    verbose_name = "organisation admin"
    verbose_name_plural = "organisation admins (change clusters, pools, quotas, cohorts, priority classes, storage)"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [OrganisationAdminInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not OrganisationMembership:
            super().save_formset(request, form, formset, change)
            return
        added = formset.save(commit=False)  # deletions are returned, not done
        for membership in added:
            if membership.pk is None:
                services.grant_organisation_admin(
                    actor=request.user,  # type: ignore[arg-type]
                    organisation=form.instance,
                    user=membership.user,
                )
        for membership in formset.deleted_objects:
            services.revoke_organisation_admin(
                actor=request.user,  # type: ignore[arg-type]
                organisation=form.instance,
                user=membership.user,
            )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["slug", "name", "organisation", "default_cluster"]
    list_filter = ["organisation"]
    search_fields = ["slug", "name"]
    list_select_related = ["organisation", "default_cluster"]
    inlines = [MembershipInline]
    prepopulated_fields = {"slug": ["name"]}

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        for membership in formset.save(commit=False):  # deletions are returned, not done
            if membership.pk is not None:  # a row edited to name another user: the first one leaves
                original = Membership.objects.select_related("user").get(pk=membership.pk)
                if original.user_id != membership.user_id:
                    services.remove_membership(actor=request.user, membership=original)  # type: ignore[arg-type]
            services.set_membership(
                actor=request.user,  # type: ignore[arg-type]
                team=form.instance,
                user=membership.user,
                role=membership.role,
            )
        for membership in formset.deleted_objects:
            services.remove_membership(actor=request.user, membership=membership)  # type: ignore[arg-type]


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
