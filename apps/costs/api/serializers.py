from __future__ import annotations

from rest_framework import serializers

from apps.costs.models import PricePoint
from apps.inventory.models import AcceleratorModel


class PricePointSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """One dated price of a GPU-hour (global, like the catalog; staff record them)."""

    accelerator_model = serializers.SlugRelatedField(
        slug_field="name",
        queryset=AcceleratorModel.objects.all(),
        help_text="Catalog model name, e.g. H100 SXM",
    )

    class Meta:
        model = PricePoint
        fields = [
            "id",
            "accelerator_model",
            "pricing_class",
            "price_per_gpu_hour",
            "currency",
            "offer",
            "as_of",
            "source_url",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
