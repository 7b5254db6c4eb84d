from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Count, OuterRef, Prefetch, Subquery


class CheckpointQuerySet(models.QuerySet[Any]):
    def for_api(self) -> CheckpointQuerySet:
        from apps.checkpoints.models import ModelVersion

        return self.select_related("attempt", "job", "team").prefetch_related(
            Prefetch("model_versions", queryset=ModelVersion.objects.only("id", "checkpoint_id").order_by("id"))
        )


class ModelQuerySet(models.QuerySet[Any]):
    def for_api(self) -> ModelQuerySet:
        from apps.checkpoints.choices import Stage
        from apps.checkpoints.models import ModelVersion

        versions = ModelVersion.objects.filter(model=OuterRef("pk"))
        return self.select_related("team").annotate(
            version_count=Count("versions", distinct=True),
            latest_version_id=Subquery(versions.order_by("-version").values("id")[:1]),
            latest_version_number=Subquery(versions.order_by("-version").values("version")[:1]),
            latest_version_stage=Subquery(versions.order_by("-version").values("stage")[:1]),
            production_version_id=Subquery(versions.filter(stage=Stage.PRODUCTION).values("id")[:1]),
            production_version_number=Subquery(versions.filter(stage=Stage.PRODUCTION).values("version")[:1]),
        )


class ModelVersionQuerySet(models.QuerySet[Any]):
    def for_api(self) -> ModelVersionQuerySet:
        return self.select_related("model__team", "checkpoint", "promoted_by", "created_by", "base_version__model")
