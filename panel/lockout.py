"""The page a locked-out login gets (django-axes calls `lockout_response`, AXES_LOCKOUT_CALLABLE): what
happened and when to try again, in the look of the login it came from, answered 429."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from panel.sites import panel_site


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    context = {
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "minutes": max(1, seconds // 60),
        "login_url": request.path,
    }
    operators = request.path.startswith(reverse("admin:index"))
    site = admin.site if operators else panel_site
    who = f" as {context['username']}" if context["username"] else ""
    context = {
        **site.each_context(request),
        **context,
        "title": "Log-in paused",
        "operators": operators,
        "lockout_errors": [
            f"Too many failed log-ins{who} from this address. Logging in from here is paused for "
            f"{context['minutes']} minutes after the last attempt."
        ],
    }
    response = render(request, "panel/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
