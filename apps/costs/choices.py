from django.db import models


class PricingClass(models.TextChoices):
    ON_DEMAND = "on_demand", "On-demand"
    RESERVED = "reserved", "Reserved (committed term)"
    CAPACITY_BLOCK = "capacity_block", "Capacity block (reserved in advance for a fixed window)"
    SPOT = "spot", "Spot / preemptible"


# Which class the planner prefers when several share a model's latest date: the price anyone
# can pay now first, the one that can be taken away last.
PRICING_CLASS_PREFERENCE: tuple[str, ...] = (
    PricingClass.ON_DEMAND,
    PricingClass.RESERVED,
    PricingClass.CAPACITY_BLOCK,
    PricingClass.SPOT,
)
