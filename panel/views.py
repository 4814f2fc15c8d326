"""Panel pages: the workspace list and a workspace's overview with its tracked activities."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from activities.models import Activity, Profile
from activities.selectors import tracked_activities
from panel.access import workspace_view
from workspaces.models import Workspace
from workspaces.permissions import acting_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    workspaces = list(Workspace.objects.filter(memberships__user=acting_user(request)).order_by("name"))
    if len(workspaces) == 1:
        return redirect("panel:workspace", slug=workspaces[0].slug)
    return render(request, "panel/home.html", {"workspaces": workspaces})


@workspace_view()
def workspace(request: HttpRequest) -> HttpResponse:
    ws: Workspace = request.workspace  # type: ignore[attr-defined]
    day_ago = timezone.now() - timedelta(days=1)
    context = {
        "workspace": ws,
        "membership": request.membership,  # type: ignore[attr-defined]
        "profiles": Profile.objects.live().filter(workspace=ws).count(),
        "activities_today": Activity.objects.filter(workspace=ws, timestamp__gte=day_ago).count(),
        # (row, [(key, types)]) pairs: a property named "items" must not shadow dict.items in the template.
        "tracked": [(row, sorted(row.properties.items())) for row in tracked_activities(ws.pk)[:200]],
    }
    return render(request, "panel/workspace.html", context)
