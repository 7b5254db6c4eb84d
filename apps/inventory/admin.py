from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from apps.core import audit
from apps.inventory import services
from apps.inventory.models import Cluster


class ClusterForm(forms.ModelForm):  # type: ignore[type-arg]
    auth_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Ray auth token (RAY_AUTH_MODE=token). Stored encrypted; leave empty to keep the current one.",
    )
    clear_auth_token = forms.BooleanField(required=False, help_text="Remove the stored token.")

    class Meta:
        model = Cluster
        fields = ["organisation", "name", "kind", "address"]


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ClusterForm
    list_display = ["name", "kind", "address", "state", "organisation", "last_seen_at", "last_reconciled_at"]
    list_filter = ["kind", "state", "organisation"]
    search_fields = ["name", "address"]
    list_select_related = ["organisation"]
    readonly_fields = [
        "state",
        "state_message",
        "total_resources",
        "available_resources",
        "last_seen_at",
        "last_reconciled_at",
        "has_auth_token",
    ]
    actions = ["refresh"]

    @admin.display(boolean=True, description="Auth token set")
    def has_auth_token(self, obj: Cluster) -> bool:
        return obj.has_auth_token

    def save_model(self, request: HttpRequest, obj: Cluster, form: Any, change: bool) -> None:
        if form.cleaned_data.get("clear_auth_token"):
            obj.set_auth_token(None)
        elif form.cleaned_data.get("auth_token"):
            obj.set_auth_token(form.cleaned_data["auth_token"])
        super().save_model(request, obj, form, change)
        audit.record("inventory.cluster_updated" if change else "inventory.cluster_registered", obj, actor=request.user)

    @admin.action(description="Refresh capacity from the cluster")
    def refresh(self, request: HttpRequest, queryset: Any) -> None:
        for cluster in queryset:
            services.refresh_capacity(cluster)
