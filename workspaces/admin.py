"""Admin for workspaces, members, keys and the audit log; scoped by workspace_scope."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import TabularInline

from workspaces import admin_auth  # noqa: F401  (auth, celery-beat and axes pages)
from workspaces.admin_scope import ReadOnlyScopedAdmin, WorkspaceScopedAdmin
from workspaces.keys import API_TOKEN_PREFIX, WRITE_KEY_PREFIX, key_display_prefix, key_generate, key_hash
from workspaces.models import ApiToken, AuditLogEntry, Membership, Role, TestProfile, Workspace, WriteKey
from workspaces.permissions import acting_user
from workspaces.services import audit_log_append, key_revoke


class MembershipInline(TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    """A workspace's settings are its owners'; reaching private addresses is the operators' call, since
    it lets a workspace's webhooks reach this server's network; the journeys generation is a counter."""

    workspace_path = "pk"
    change_role = Role.OWNER
    list_display = ["name", "slug", "timezone", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fixed = ["journeys_generation", "created_at"]
        return fixed if request.user.is_superuser else [*fixed, "allow_private_webhooks"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(WorkspaceScopedAdmin):
    change_role = Role.OWNER  # a role is the owners' to give
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "user__email", "workspace__name"]
    autocomplete_fields = ["user"]


@admin.action(description="Revoke selected keys", permissions=["change"])
def revoke_keys(modeladmin: _SecretAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    keys = modeladmin.changeable(request, queryset.filter(revoked_at__isnull=True))
    for key in keys:
        key_revoke(key=key, actor=acting_user(request))
    messages.success(request, f"Revoked {len(keys)}.")


class _SecretAdmin(WorkspaceScopedAdmin):
    """Keys are generated on add, shown once in a message and stored hashed; they are the owners'."""

    change_role = Role.OWNER
    actions = [revoke_keys]
    list_filter = ["workspace", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    secret_prefix = ""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["prefix", "created_at", "revoked_at"] + (["workspace"] if obj else [])

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            raw = key_generate(self.secret_prefix)
            obj.prefix = key_display_prefix(raw)
            self._store_hash(obj, key_hash(raw))
            messages.warning(request, f"Copy this key now; it is not shown again: {raw}")
        super().save_model(request, obj, form, change)
        audit_log_append(
            workspace=obj.workspace, actor=acting_user(request), action="changed" if change else "created", obj=obj
        )

    def _store_hash(self, obj: Any, digest: str) -> None:
        raise NotImplementedError


@admin.register(WriteKey)
class WriteKeyAdmin(_SecretAdmin):
    list_display = ["name", "workspace", "prefix", "created_at", "revoked_at"]
    fields = ["workspace", "name", "prefix", "created_at", "revoked_at"]
    secret_prefix = WRITE_KEY_PREFIX

    def _store_hash(self, obj: WriteKey, digest: str) -> None:
        obj.key_hash = digest
        obj.created_by = None


@admin.register(ApiToken)
class ApiTokenAdmin(_SecretAdmin):
    list_display = ["name", "workspace", "membership", "prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["membership", "name", "prefix", "created_at", "revoked_at"]
    secret_prefix = API_TOKEN_PREFIX

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A token acts as its membership: pointing it at another would hand over that member's role.
        return [*super().get_readonly_fields(request, obj), *(["membership"] if obj else [])]

    def _store_hash(self, obj: ApiToken, digest: str) -> None:
        obj.token_hash = digest
        obj.workspace = obj.membership.workspace


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyScopedAdmin):
    list_display = ["created_at", "workspace", "actor_label", "action", "object_type", "object_repr"]
    list_filter = ["workspace", "action", "object_type"]
    search_fields = ["actor_label", "object_repr", "object_id"]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # append-only


@admin.register(TestProfile)
class TestProfileAdmin(WorkspaceScopedAdmin):
    list_display = ["label", "workspace", "profile"]
    list_filter = ["workspace"]
    raw_id_fields = ["profile"]
