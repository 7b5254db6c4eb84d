from django.db import models


class PricingClass(models.TextChoices):
    ON_DEMAND = "on_demand", "On-demand"
    RESERVED = "reserved", "Reserved (committed term)"
    CAPACITY_BLOCK = "capacity_block", "Capacity block (reserved in advance for a fixed window)"
    SPOT = "spot", "Spot / preemptible"
    ON_PREM = "on_prem", "On-premises (amortised purchase, power and cooling)"


# Which class the planner prefers when several share a model's latest date: the price anyone
# can pay now first, the one that can be taken away last; owned hardware after the market.
PRICING_CLASS_PREFERENCE: tuple[str, ...] = (
    PricingClass.ON_DEMAND,
    PricingClass.RESERVED,
    PricingClass.CAPACITY_BLOCK,
    PricingClass.SPOT,
    PricingClass.ON_PREM,
)


class Resource(models.TextChoices):
    GPU = "gpu", "GPU"
    CPU = "cpu", "CPU"


class RecordKind(models.TextChoices):
    USAGE = "usage", "Usage"
    CORRECTION = "correction", "Correction (a run found to have ended before the time charged)"


class BudgetUnit(models.TextChoices):
    MONEY = "money", "Money"
    GPU_HOURS = "gpu_hours", "GPU-hours"


class BudgetPeriod(models.TextChoices):
    MONTHLY = "monthly", "Each calendar month (UTC)"
    FIXED = "fixed", "A fixed period (starts_on to ends_on)"


class OnHardLimit(models.TextChoices):
    CONTINUE = "continue", "Running work goes on; new work waits"
    STOP = "stop", "Running work is cancelled too"


class AlertLevel(models.TextChoices):
    SOFT = "soft", "Soft limit crossed"
    HARD = "hard", "Hard limit reached"
