"""`{% for key, value in mapping|entries %}`: a mapping's pairs, whatever its keys are called.

A template's `mapping.items` is a lookup before it is a call: a dict with a key named `items` — an event's
or a template's own data, such as a cart's `items` — answers with that key's value, and the loop fails
(a 500) or walks the wrong thing. A filter is a call, so the mapping's keys cannot shadow it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

register = template.Library()


@register.filter
def entries(mapping: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    return list(mapping.items()) if isinstance(mapping, Mapping) else []
