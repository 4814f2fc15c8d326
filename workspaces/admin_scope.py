"""Workspace scoping for the Django admin. Superusers (operators) see everything; a staff member sees
only the rows of workspaces they belong to, with rights that follow their role there: analysts view,
marketers change, owners also add and delete (a model's admin may ask more: keys, members and workspace
settings are owners' alone). Form choices follow the same rights. Every page has django-unfold's look;
JSON is edited in an indented, monospaced box."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import Model, QuerySet
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminTextareaWidget

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


class IndentedJSONField(forms.JSONField):
    """A JSON document shown indented, so that an operator can read and edit it in its box."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


JSON_BOX = {
    "form_class": IndentedJSONField,
    "widget": UnfoldAdminTextareaWidget(attrs={"rows": 14, "style": "font-family: var(--font-mono); font-size: 13px"}),
}


class WorkspaceScopedAdmin(ModelAdmin):
    """`workspace_path` is the lookup from the model to its workspace id. The roles are what a member
    needs in an object's workspace to view, change, add or delete it there."""

    workspace_path = "workspace_id"
    formfield_overrides = {models.JSONField: JSON_BOX}
    view_role: str = Role.ANALYST
    change_role: str = Role.MARKETER
    add_role: str = Role.OWNER
    delete_role: str = Role.OWNER

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

    def _workspaces_with(self, request: HttpRequest, role: str) -> list[int]:
        needed = ROLE_RANK[Role(role)]
        return [workspace_id for workspace_id, rank in _roles(request).items() if rank >= needed]

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
        return request.user.is_active and request.user.is_staff and self._allowed(request, self.view_role)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and self._allowed(request, self.view_role, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and self._allowed(request, self.change_role, obj)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and self._allowed(request, self.add_role)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and self._allowed(request, self.delete_role, obj)

    def changeable(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The rows of `queryset` the user may change: what an action that changes rows acts on."""
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.workspace_path}__in": self._workspaces_with(request, self.change_role)})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        """Links to workspace rows offer only the workspaces where the user may change objects; the
        object's own form narrows them further (get_form)."""
        field: Any = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if request.user.is_superuser:
            return field
        return _within(field, self._workspaces_with(request, self.change_role))

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        """An existing object's links stay inside its workspace; a new one's go to workspaces where the
        user may add, and all of them to the same one (checked when the form is cleaned)."""
        if obj is not None:
            workspaces: list[int] | None = [self._workspace_of(obj)]
        elif request.user.is_superuser:
            workspaces = None
        else:
            workspaces = self._workspaces_with(request, self.add_role)
        form = super().get_form(request, obj, change, **kwargs)
        if self.workspace_path == "workspace_id":
            form = type(form.__name__, (_OneWorkspaceForm, form), {})
        if workspaces is not None:
            for field in form.base_fields.values():
                _within(field, workspaces)
        return form


def _scoped(model: Any) -> str | None:
    """How a model's rows name their workspace, if they belong to one."""
    if model is Workspace:
        return "pk"
    return "workspace_id" if any(f.name == "workspace" for f in model._meta.fields) else None


def _within(field: Any, workspaces: list[int]) -> Any:
    queryset = getattr(field, "queryset", None)
    if queryset is not None and (lookup := _scoped(queryset.model)):
        field.queryset = queryset.filter(**{f"{lookup}__in": workspaces})
    return field


class _OneWorkspaceForm(forms.ModelForm):
    """Every workspace row an object links to is of the object's own workspace."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        chosen = data.get("workspace")
        workspace_id = chosen.pk if isinstance(chosen, Workspace) else getattr(self.instance, "workspace_id", None)
        if workspace_id is None:
            return data
        for name, value in list(data.items()):
            linked = isinstance(value, Model) and _scoped(type(value)) == "workspace_id" and name != "workspace"
            if linked and value.workspace_id != workspace_id:
                self.add_error(name, "Belongs to another workspace.")
        return data


class ReadOnlyScopedAdmin(WorkspaceScopedAdmin):
    """For facts (activities, audit log): nobody edits history through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
