from django.db import models


class CheckpointState(models.TextChoices):
    WRITING = "writing", "Writing (reported; Paddock is measuring it)"
    COMPLETE = "complete", "Complete"
    DELETED = "deleted", "Deleted"


class BestMode(models.TextChoices):
    MIN = "min", "Lowest is best"
    MAX = "max", "Highest is best"


class Stage(models.TextChoices):
    NONE = "none", "None"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


# The retention a team gets until its admins set their own.
DEFAULT_KEEP_LATEST = 3
DEFAULT_KEEP_BEST = 1
DEFAULT_BEST_METRIC = "loss"
