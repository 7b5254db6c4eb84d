"""OpenAPI description of the job token (drf-spectacular extension)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class JobTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.jobs.authentication.JobTokenAuthentication"
    name = "jobToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "pdj_<attempt id>.<mac>",
            "description": "A running job's token (PADDOCK_JOB_TOKEN): only the /job-reports/ endpoints accept it.",
        }
