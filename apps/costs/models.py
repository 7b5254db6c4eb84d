"""Costs: dated GPU prices (a time series per accelerator model, never constants)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from apps.core.models import TimeStampedModel
from apps.costs.choices import PricingClass

CURRENCY_CODE = RegexValidator(r"^[A-Z]{3}$", "Three capital letters (ISO 4217), e.g. USD.")


class PricePoint(TimeStampedModel):
    """What one GPU-hour of an accelerator model cost in one offer, as a source stated on a date."""

    accelerator_model = models.ForeignKey(
        "inventory.AcceleratorModel", on_delete=models.PROTECT, related_name="price_points"
    )
    pricing_class = models.CharField(max_length=16, choices=PricingClass.choices, default=PricingClass.ON_DEMAND)
    price_per_gpu_hour = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="One GPU for one hour (an instance's hourly price divided by its GPU count)",
    )
    currency = models.CharField(max_length=3, default="USD", validators=[CURRENCY_CODE], help_text="ISO 4217")
    offer = models.CharField(max_length=200, help_text='What was priced, e.g. "AWS p5.48xlarge on-demand"')
    as_of = models.DateField(help_text="The date the source gives for the price")
    source_url = models.URLField(max_length=500, help_text="Where the price comes from")
    notes = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["accelerator_model__name", "-as_of", "pricing_class"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_per_gpu_hour__gt=0),
                name="pricepoint_price_positive",
                violation_error_message="The price must be more than zero.",
            ),
            models.UniqueConstraint(
                fields=["accelerator_model", "pricing_class", "as_of", "offer"],
                name="pricepoint_unique_model_class_date_offer",
                violation_error_message="This offer already has a price of this class on this date.",
            ),
        ]
        # current_prices(): the latest date per model, on or before a given day.
        indexes = [models.Index(fields=["accelerator_model", "-as_of"], name="pricepoint_model_latest")]

    def __str__(self) -> str:
        return f"{self.accelerator_model} {self.pricing_class} {self.price_per_gpu_hour} {self.currency} ({self.as_of})"
