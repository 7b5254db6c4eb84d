from django.db import models


class PlacementStrategy(models.TextChoices):
    PACK = "pack", "Pack (fill nodes, keep big holes whole)"
    SPREAD = "spread", "Spread (the emptiest node first)"
