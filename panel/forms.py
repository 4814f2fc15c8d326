"""Form helpers every panel page shares."""

from __future__ import annotations

from typing import Any

from django.forms.utils import ErrorDict


def unvalidated(form: Any) -> Any:
    """A bound form redrawn without its errors (an htmx refresh after the marketer picked an event)."""
    form.full_clean()
    form._errors = ErrorDict()
    for sub in getattr(form, "forms", []):
        sub.full_clean()
        sub._errors = ErrorDict()
    if hasattr(form, "_non_form_errors"):
        form._non_form_errors = form.error_class()
    return form


def pairs_parse(text: str) -> dict[str, Any]:
    """`price = 120, currency = EUR, vip = true` as typed in a simulator row: numbers and true/false are
    read as such, the rest is text. A part without `name =` is a ValidationError naming it."""
    from django.core.exceptions import ValidationError

    from segments.conditions import as_number

    found: dict[str, Any] = {}
    for part in str(text or "").split(","):
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        if not equals or not name.strip():
            raise ValidationError(f"“{part.strip()}” is not name = value.")
        raw = value.strip()
        number = as_number(raw)
        parsed: Any = raw
        if raw.lower() in ("true", "false"):
            parsed = raw.lower() == "true"
        elif number is not None:
            parsed = int(number) if number.is_integer() else number
        found[name.strip()] = parsed
    return found
