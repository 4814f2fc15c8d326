"""The base of every ModelAdmin on the panel site: rows of the member's current workspace only, and
rights by their role there — analysts read, marketers build and launch (`change_role`), owners also
settings. Checked on the server for every view, list and action; a row of another workspace is a 404."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from panel.access import current_membership
from workspaces.models import Membership, Role


class PanelModelAdmin(ModelAdmin):
    workspace_path = "workspace_id"  # the lookup from the model to its workspace id
    view_role: str = Role.ANALYST
    change_role: str = Role.MARKETER
    add_role: str = Role.MARKETER
    delete_role: str = Role.MARKETER

    def membership(self, request: HttpRequest) -> Membership:
        membership = current_membership(request)
        assert membership is not None  # the site admits members only
        return membership

    def allows(self, request: HttpRequest, role: str) -> bool:
        membership = current_membership(request)
        return membership is not None and membership.allows(role)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(**{self.workspace_path: self.membership(request).workspace_id})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.allows(request, self.view_role)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.allows(request, self.view_role)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.allows(request, self.change_role)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.allows(request, self.add_role)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.allows(request, self.delete_role)

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        return self.admin_site.each_context(request)
