from __future__ import annotations

from django.db import models

from apps.jobs.choices import ACTIVE_STATES, ATTEMPT_REMOTE_STATES, AttemptState, JobState


class JobQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def active(self) -> JobQuerySet:
        return self.filter(state__in=ACTIVE_STATES)

    def pending(self) -> JobQuerySet:
        return self.filter(state=JobState.PENDING)

    def for_list(self) -> JobQuerySet:
        return self.select_related("team", "cluster", "submitted_by")


class AttemptQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def remote_active(self) -> AttemptQuerySet:
        """Attempts the backend knows about and that have not finished."""
        return self.filter(state__in=ATTEMPT_REMOTE_STATES)

    def undispatched(self) -> AttemptQuerySet:
        return self.filter(state=AttemptState.ADMITTED)
