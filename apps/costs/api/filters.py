from __future__ import annotations

import django_filters

from apps.costs.choices import PricingClass
from apps.costs.models import PricePoint


class PricePointFilter(django_filters.FilterSet):
    accelerator_model = django_filters.CharFilter(
        field_name="accelerator_model__name", lookup_expr="iexact", help_text="Catalog model name, e.g. H100 SXM"
    )
    pricing_class = django_filters.MultipleChoiceFilter(
        choices=PricingClass.choices, distinct=False, help_text="Repeat for several classes"
    )
    currency = django_filters.CharFilter(field_name="currency", help_text="ISO 4217 code, e.g. USD")
    as_of_after = django_filters.DateFilter(field_name="as_of", lookup_expr="gte", help_text="Dated on or after")
    as_of_before = django_filters.DateFilter(field_name="as_of", lookup_expr="lte", help_text="Dated on or before")

    class Meta:
        model = PricePoint
        fields = ["accelerator_model", "pricing_class", "currency", "as_of_after", "as_of_before"]
