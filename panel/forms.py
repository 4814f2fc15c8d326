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
