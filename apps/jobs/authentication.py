"""``Authorization: Bearer pdj_…``: a running job reporting to Paddock (see :mod:`.job_tokens`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.jobs import job_tokens
from apps.jobs.choices import ATTEMPT_ACTIVE_STATES, TERMINAL_STATES
from apps.jobs.models import Attempt, Job


@dataclass(frozen=True)
class JobCredentials:
    """What a job token proves: this attempt of this job is calling. ``scope`` is ``"job"``:
    such a caller reaches only the views marked ``job_endpoint`` and nothing else."""

    attempt: Attempt
    scope: str = "job"

    @property
    def job(self) -> Job:
        return self.attempt.job


class JobTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, JobCredentials] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, value = header.partition(" ")
        value = value.strip()
        if keyword.lower() != self.keyword.lower() or not job_tokens.is_job_token(value):
            return None  # not a job token: the API token and session authenticators decide
        attempt_id = job_tokens.attempt_of(value)
        if attempt_id is None:
            raise exceptions.AuthenticationFailed("Invalid job token.")
        later = Attempt.objects.filter(job_id=OuterRef("job_id"), number__gt=OuterRef("number"))
        attempt = (
            Attempt.objects.select_related("job__team", "job__submitted_by")
            .annotate(superseded=Exists(later))
            .filter(pk=attempt_id)
            .first()
        )
        if attempt is None:
            raise exceptions.AuthenticationFailed("Invalid job token.")
        if (
            attempt.state not in ATTEMPT_ACTIVE_STATES or attempt.job.state in TERMINAL_STATES or attempt.superseded  # type: ignore[attr-defined]
        ):
            raise exceptions.AuthenticationFailed(
                f"This job token has expired: attempt {attempt.number} of job {attempt.job_id} is no longer running."
            )
        user = attempt.job.submitted_by
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("The job's submitter is no longer active.")
        return user, JobCredentials(attempt=attempt)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
