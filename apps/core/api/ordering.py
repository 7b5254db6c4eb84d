"""``?ordering=`` that keeps pages stable: rows equal on the asked-for field (two jobs of the same
cost) keep one order from page to page, the newest first, as every list's default has it."""

from __future__ import annotations

from typing import Any

from rest_framework.filters import OrderingFilter


class StableOrderingFilter(OrderingFilter):
    def get_ordering(self, request: Any, queryset: Any, view: Any) -> Any:
        ordering = super().get_ordering(request, queryset, view)
        if not ordering or self.ordering_param not in request.query_params:
            return ordering
        if not any(field.lstrip("-") in {"id", "pk"} for field in ordering):
            ordering = [*ordering, "-id"]
        return ordering
