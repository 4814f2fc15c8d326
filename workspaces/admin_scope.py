"""Workspace scoping for the Django admin. Superusers (operators) see everything; a staff member sees
only the rows of workspaces they belong to, with rights that follow their role there: analysts view,
marketers change, owners also add and delete."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from workspaces.models import ROLE_RANK, Membership, Role, Workspace
from workspaces.permissions import acting_user


def _roles(request: HttpRequest) -> dict[int, int]:
    cached = getattr(request, "_nudge_admin_roles", None)
    if cached is None:
        cached = {
            workspace_id: ROLE_RANK[Role(role)]
            for workspace_id, role in Membership.objects.filter(user_id=acting_user(request).pk).values_list(
                "workspace_id", "role"
            )
        }
        request._nudge_admin_roles = cached  # type: ignore[attr-defined]
    return cached


class WorkspaceListFilter(admin.SimpleListFilter):
    """The sidebar's workspace filter, listing only the workspaces the member belongs to."""

    title = "workspace"
    parameter_name = "workspace"

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        self.workspace_path = model_admin.workspace_path
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        workspaces = Workspace.objects.order_by("name")
        if not request.user.is_superuser:
            workspaces = workspaces.filter(pk__in=list(_roles(request)))
        return [(str(ws.pk), ws.name) for ws in workspaces]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(**{self.workspace_path: self.value()})
        return queryset


class WorkspaceScopedAdmin(admin.ModelAdmin):
    """`workspace_path` is the lookup from the model to its workspace id."""

    workspace_path = "workspace_id"

    def get_list_filter(self, request: HttpRequest) -> Any:
        return [WorkspaceListFilter if f == "workspace" else f for f in super().get_list_filter(request)]

    def _allowed(self, request: HttpRequest, role: str, obj: Model | None = None) -> bool:
        if request.user.is_superuser:
            return True
        roles = _roles(request)
        needed = ROLE_RANK[Role(role)]
        if obj is None:
            return any(rank >= needed for rank in roles.values())
        return roles.get(self._workspace_of(obj), 0) >= needed

    def _workspace_of(self, obj: Model) -> int:
        value: Any = obj
        for part in self.workspace_path.split("__"):
            value = getattr(value, part)
        return int(value)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.workspace_path}__in": list(_roles(request))})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff and self._allowed(request, Role.ANALYST)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and self._allowed(request, Role.ANALYST, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and self._allowed(request, Role.MARKETER, obj)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and self._allowed(request, Role.OWNER)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and self._allowed(request, Role.OWNER, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field: Any = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if request.user.is_superuser or field is None or not hasattr(field, "queryset"):
            return field
        owned = [ws for ws, rank in _roles(request).items() if rank >= ROLE_RANK[Role.OWNER]]
        model = db_field.related_model
        if model._meta.label == "workspaces.Workspace":
            field.queryset = field.queryset.filter(pk__in=owned)
        elif any(f.name == "workspace" for f in model._meta.fields):
            field.queryset = field.queryset.filter(workspace_id__in=owned)
        return field


class ReadOnlyScopedAdmin(WorkspaceScopedAdmin):
    """For facts (activities, audit log): nobody edits history through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
