from django.db import models


class Resolution(models.IntegerChoices):
    """The width of a series bucket: each reading is added to one bucket of each."""

    MINUTE = 60, "1 minute"
    TEN_MINUTES = 600, "10 minutes"


class InterfaceKind(models.TextChoices):
    ETHERNET = "ethernet", "Ethernet (a NIC)"
    INFINIBAND = "infiniband", "InfiniBand port"
