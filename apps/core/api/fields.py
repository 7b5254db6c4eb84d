"""Input fields and filters for ids and counts that a 64-bit integer column must hold.

A number beyond 64 bits reached the database driver, which refused it: SQLite (``make run``)
raised ``OverflowError`` (a 500), PostgreSQL an out-of-range error. Every integer a client
sends is bounded where it is parsed instead, so it is a 400 on its own field.
"""

from __future__ import annotations

from typing import Any, Final

import django_filters
from django import forms
from rest_framework import serializers

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """A row id in a request body: 1 to 2⁶³ - 1."""
    return serializers.IntegerField(min_value=1, max_value=INT64_MAX, **kwargs)


def byte_count_field(**kwargs: Any) -> serializers.IntegerField:
    """A count of bytes (a 64-bit column): 0 to 2⁶³ - 1."""
    return serializers.IntegerField(min_value=0, max_value=INT64_MAX, **kwargs)


class IdFilter(django_filters.NumberFilter):
    """Filter by a row id: a whole number from 1 to 2⁶³ - 1, else a 400 on the parameter.

    django-filter's ``NumberFilter`` parses a Decimal of any size, which Django's lookups then
    pass to the driver as is (its own range check covers plain ints only).
    """

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(*args, **kwargs)
        # The OpenAPI schema (drf-spectacular's override hook, per instance for the help text).
        schema = {"type": "integer", "minimum": kwargs["min_value"], "maximum": kwargs["max_value"]}
        if kwargs.get("help_text"):
            schema["description"] = str(kwargs["help_text"])
        self._spectacular_annotation = {"field": schema}

    def get_max_validator(self) -> None:
        return None  # the form field's own max_value says it
