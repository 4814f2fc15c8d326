"""Model fields shared by every app."""

from __future__ import annotations

from typing import Any

import orjson
from django.db import models


class JSONField(models.JSONField):
    """Django's JSONField, read with orjson: the hot paths load thousands of documents a batch (profiles'
    traits, enrollments' paths, activities' properties), and the standard library's decoder was a tenth
    of a timer sweep. Values orjson refuses (integers beyond 64 bits, NaN) fall back to Django's reading.
    Migrations see Django's field."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if isinstance(value, str) and self.decoder is None:
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        return super().from_db_value(value, expression, connection)

    def deconstruct(self) -> Any:
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs
