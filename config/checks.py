"""Checks that stop a deployment which would answer 500: static files not collected (or collected from
another release) under the manifest storage production uses. `check --deploy` reports it, and a web
process refuses to start with it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core import checks
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse


def static_files_problem() -> str | None:
    """Why pages would fail to render their `{% static %}` links, or None. Only the manifest storage
    needs collected files: it raises for a file missing from its manifest."""
    if not isinstance(staticfiles_storage, ManifestFilesMixin):
        return None
    manifest, _ = staticfiles_storage.load_manifest()
    if not manifest:
        return (
            f"static files are not collected: run manage.py collectstatic "
            f"(no {staticfiles_storage.manifest_name} in {staticfiles_storage.location})"
        )
    ignore = apps.get_app_config("staticfiles").ignore_patterns
    missing = sorted(
        {
            os.path.join(getattr(storage, "prefix", None) or "", path).replace(os.sep, "/")
            for finder in finders.get_finders()
            for path, storage in finder.list(ignore)
        }
        - set(manifest)
    )
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return f"static files are not collected: run manage.py collectstatic ({shown} not collected)"
    return None


@checks.register(checks.Tags.staticfiles, deploy=True)
def static_files_collected(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    problem = static_files_problem()
    return [checks.Error(problem, id="nudge.E001")] if problem else []


class WebStartupChecks:
    """Listed first in MIDDLEWARE, but never part of a request: Django builds the middleware chain once
    when a web process starts (gunicorn's workers, runserver), so this is where a web process refuses to
    serve. Management commands (migrate, collectstatic) and workers never build it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        problem = static_files_problem()
        if problem:
            raise ImproperlyConfigured(problem)
        raise MiddlewareNotUsed
