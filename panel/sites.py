"""The marketing panel: Django's admin made into a product for workspace members (PRODUCT.md §10). A
second AdminSite beside the operators' admin, themed with django-unfold (its settings are
`UNFOLD_PANEL`): sidebar by the marketer's tasks, a workspace switcher, the dashboard as its index.

Every page of the panel works in the member's current workspace (`panel.access.current_membership`);
its ModelAdmins (`panel.admin.PanelModelAdmin`) scope their rows to it and check the member's role
there on the server. Members need not be staff: the site asks for a membership, not `is_staff`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from unfold.forms import BASE_INPUT_CLASSES
from unfold.sites import UnfoldAdminSite

from panel import dashboard, reports
from panel.access import current_membership, workspace_choose
from panel.times import zone_of


class MemberLoginForm(AuthenticationForm):
    """Any active member logs in (the operators' admin form would ask for `is_staff`)."""

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget.attrs.update({"autofocus": "", "class": " ".join(BASE_INPUT_CLASSES)})
        self.fields["password"].widget.attrs["class"] = " ".join(BASE_INPUT_CLASSES)


class PanelSite(UnfoldAdminSite):
    settings_name = "UNFOLD_PANEL"
    site_title = "Nudge"
    site_header = "Nudge"
    index_title = "Dashboard"
    index_template = "panel/dashboard.html"
    login_form = MemberLoginForm
    # The panel sits at `/`: its catch-all would answer every unknown URL, the API's and ingestion's too
    # (an HTML CSRF page for a PUT to a wrong /api/ path). Unknown URLs are the project's 404 instead.
    final_catch_all_view = False

    def admin_view(self, view: Callable[..., HttpResponse], cacheable: bool = False) -> Callable[..., HttpResponse]:
        """Every page in the member's workspace's time zone, rendered there too (panel/times.py)."""
        guarded = super().admin_view(view, cacheable)

        @wraps(guarded)
        def in_zone(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = current_membership(request) if request.user.is_authenticated else None
            if membership is None:
                return guarded(request, *args, **kwargs)
            with timezone.override(zone_of(membership.workspace)):
                response = guarded(request, *args, **kwargs)
                if isinstance(response, TemplateResponse) and not response.is_rendered:
                    response.render()
            return response

        return in_zone

    def has_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and current_membership(request) is not None)

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        membership = current_membership(request)
        assert membership is not None  # admin_view let only members in
        context = {**(extra_context or {}), **dashboard.dashboard_context(membership.workspace)}
        return super().index(request, context)

    def get_urls(self) -> list[URLPattern]:
        return [
            path("switch/<int:workspace_id>/", self.admin_view(self.switch), name="switch"),
            path("reports/", self.admin_view(self.reports), name="reports"),
            *super().get_urls(),
        ]

    def reports(self, request: HttpRequest) -> HttpResponse:
        return reports.reports_view(request, self)

    def switch(self, request: HttpRequest, workspace_id: int) -> HttpResponse:
        """Work in another of the member's workspaces (404 for one they do not belong to)."""
        if workspace_choose(request, workspace_id) is None:
            raise Http404("No such workspace")
        back = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) or "/switch/" in back:
            back = reverse("panel:index")
        return HttpResponseRedirect(back)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """A logged-in user who belongs to no workspace is told so rather than sent round in circles."""
        if request.method == "GET" and request.user.is_authenticated and current_membership(request) is None:
            context = {**self.each_context(request), "title": "No workspace"}
            return TemplateResponse(request, "panel/no_workspace.html", context, status=403)
        return super().login(request, extra_context)


panel_site = PanelSite(name="panel")
