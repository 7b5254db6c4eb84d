from rest_framework import serializers

from apps.inventory.models import Cluster


class ClusterSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A cluster as teams see it; credentials are never returned."""

    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Cluster
        fields = [
            "id",
            "name",
            "kind",
            "address",
            "state",
            "state_message",
            "organisation",
            "total_resources",
            "available_resources",
            "last_seen_at",
            "created_at",
        ]
        read_only_fields = fields
