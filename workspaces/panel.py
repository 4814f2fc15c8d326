"""Settings in the marketing panel, for owners only (PRODUCT.md §2): the settings home (`panel:settings`)
with a tab per page, the workspace's name and timezone, write keys and management tokens (the secret
shown once, on the page that answers the create; revoked after a confirmation), members and their roles
(invite by email, change role, remove; never the last owner), and the audit log, read-only.

Other apps add their settings pages with `settings_page_add` (messaging's in `messaging/panel_settings.py`)
and build theirs on `SettingsAdmin`. Views call `workspaces.services`; its refusals show at their field."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms as django_forms
from django.contrib import admin, messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse, reverse_lazy
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.html import format_html
from django.utils.http import urlsafe_base64_encode
from unfold.decorators import display

from messaging.pacing import zone_of
from panel.model_admin import PanelModelAdmin
from panel.sites import panel_site
from workspaces import forms, services
from workspaces.models import ApiToken, AuditLogEntry, Membership, Role, Workspace, WriteKey
from workspaces.permissions import acting_user

# --- The settings' pages and their tabs ---------------------------------------------------------------


@dataclass(frozen=True)
class SettingsPage:
    key: str
    title: str
    url_name: str  # in the panel's namespace
    description: str
    icon: str
    order: int


SETTINGS_PAGES: list[SettingsPage] = []


def settings_page_add(page: SettingsPage) -> None:
    """List a page on the settings home and in the settings' tabs (once, in `order`)."""
    if all(p.key != page.key for p in SETTINGS_PAGES):
        SETTINGS_PAGES.append(page)
        SETTINGS_PAGES.sort(key=lambda p: p.order)


for _page in (
    SettingsPage("workspace", "Workspace", "settings_workspace", "Its name and timezone.", "apartment", 10),
    SettingsPage(
        "members",
        "Members",
        "workspaces_membership_changelist",
        "Who works here and in which role; invite people by email.",
        "group",
        20,
    ),
    SettingsPage(
        "write_keys",
        "Write keys",
        "workspaces_writekey_changelist",
        "Keys your apps and servers send activities with (Segment's write key).",
        "key",
        30,
    ),
    SettingsPage(
        "tokens",
        "Management tokens",
        "workspaces_apitoken_changelist",
        "Tokens for the management API; each acts with its member's role.",
        "token",
        40,
    ),
    SettingsPage(
        "audit", "Audit log", "workspaces_auditlogentry_changelist", "Who changed what, and when.", "history", 90
    ),
):
    settings_page_add(_page)


def settings_pages() -> list[tuple[SettingsPage, str]]:
    """The settings pages whose URL exists, with it."""
    found = []
    for page in SETTINGS_PAGES:
        try:
            found.append((page, reverse(f"panel:{page.url_name}")))
        except NoReverseMatch:
            continue
    return found


def settings_tabs(current: str) -> list[dict[str, Any]]:
    return [{"key": p.key, "title": p.title, "url": url, "current": p.key == current} for p, url in settings_pages()]


def local_time(moment: datetime | None, workspace: Workspace) -> str:
    """A moment in the workspace's timezone, with the zone named (PANEL.md)."""
    if moment is None:
        return "—"
    return f"{moment.astimezone(zone_of(workspace.timezone)):%Y-%m-%d %H:%M} {workspace.timezone}"


class SettingsAdmin(PanelModelAdmin):
    """A settings page: owners only, for every view and action (marketers and analysts get a 403)."""

    view_role = change_role = add_role = delete_role = Role.OWNER
    settings_key = ""
    list_before_template = "workspaces/settings/_tabs.html"
    list_per_page = 50

    def settings_context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            # No `opts`: the header then names the page, not the model behind it.
            **self.admin_site.each_context(request),
            "title": title,
            "settings_tabs": settings_tabs(self.settings_key),
            **extra,
        }

    def owner_only(self, request: HttpRequest) -> Membership:
        """The owner's membership, or a 403 (every custom page and action starts here)."""
        if not self.allows(request, Role.OWNER):
            raise PermissionDenied
        return self.membership(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        self.owner_only(request)
        context = {"settings_tabs": settings_tabs(self.settings_key), **(extra_context or {})}
        return super().changelist_view(request, context)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        raise PermissionDenied  # the audit log is the history

    def page(self, request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> TemplateResponse:
        return TemplateResponse(request, template, context, status=status)


def form_errors(form: django_forms.Form, error: services.SettingsError) -> None:
    for field, message in error.problems.items():
        form.add_error(field if field in form.fields else None, message)


# --- Workspace: the settings home and the workspace's own settings ------------------------------------


@admin.register(Workspace, site=panel_site)
class WorkspaceSettingsAdmin(SettingsAdmin):
    workspace_path = "pk"
    settings_key = "workspace"

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # workspaces are made by `workspace_create`

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        # Only these: the model's own add/change/delete pages would edit what owners may not (the slug,
        # private webhooks).
        return [
            path("", view(self.home_view), name="settings"),
            path("general/", view(self.workspace_view), name="settings_workspace"),
        ]

    def home_view(self, request: HttpRequest) -> HttpResponse:
        membership = self.owner_only(request)
        workspace = membership.workspace
        counts = {
            "members": Membership.objects.filter(workspace=workspace).count(),
            "write_keys": WriteKey.objects.filter(workspace=workspace).active().count(),
            "tokens": ApiToken.objects.filter(workspace=workspace).active().count(),
        }
        cards = [{"page": page, "url": url, "count": counts.get(page.key)} for page, url in settings_pages()]
        context = self.settings_context(request, "Settings", cards=cards, workspace=workspace)
        context["settings_tabs"] = []
        return self.page(request, "workspaces/settings/home.html", context)

    def workspace_view(self, request: HttpRequest) -> HttpResponse:
        membership = self.owner_only(request)
        workspace = membership.workspace
        initial = {"name": workspace.name, "timezone": workspace.timezone}
        form = forms.WorkspaceForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                services.workspace_update(
                    workspace=workspace,
                    name=form.cleaned_data["name"],
                    timezone_name=form.cleaned_data["timezone"],
                    actor=acting_user(request),
                )
                self.message_user(request, "Workspace settings saved.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("panel:settings_workspace"))
            except services.SettingsError as error:
                form_errors(form, error)
        context = self.settings_context(
            request,
            "Workspace",
            form=form,
            lead="Times across the panel are shown in the workspace's timezone.",
            submit="Save",
            data_form="workspace",
        )
        return self.page(request, "workspaces/settings/form.html", context, status=400 if form.errors else 200)


# --- Write keys and management tokens ---------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


KEYS_SHOWN = "nudge_keys_shown"  # the session's last forms that made a key (their `once` tokens)


class SecretSettingsAdmin(SettingsAdmin):
    """Keys are made on a form whose answer shows the secret once (never stored, never shown again);
    revoking asks first. Nothing else about a key changes."""

    list_filter = [StatusFilter]
    search_fields = ["name", "prefix"]
    list_display_links = None
    noun = "key"
    lead = ""
    change_list_template = "workspaces/settings/secret_list.html"

    def create(self, request: HttpRequest, membership: Membership, name: str) -> services.NewSecret:
        raise NotImplementedError

    @display(description="Name", ordering="name")
    def name_column(self, key: WriteKey | ApiToken) -> str:
        return key.name

    @display(description="Key")
    def prefix_column(self, key: WriteKey | ApiToken) -> str:
        return format_html('<code class="text-xs">{}…</code>', key.prefix)

    @display(description="Created", ordering="created_at")
    def created_column(self, key: WriteKey | ApiToken) -> str:
        return local_time(key.created_at, key.workspace)

    @display(description="Status", label={"Active": "success", "Revoked": "danger"})
    def status_column(self, key: WriteKey | ApiToken) -> str:
        return "Revoked" if key.revoked_at else "Active"

    @display(description="")
    def revoke_column(self, key: WriteKey | ApiToken) -> str:
        if key.revoked_at:
            return format_html(
                '<span class="text-xs text-base-500">revoked {}</span>', local_time(key.revoked_at, key.workspace)
            )
        url = reverse(f"panel:workspaces_{self.model._meta.model_name}_revoke", args=[key.pk])
        return format_html('<a class="button-danger" href="{}" data-revoke="{}">Revoke</a>', url, key.prefix)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("workspace")

    def get_urls(self) -> list[URLPattern]:
        view, name = self.admin_site.admin_view, self.model._meta.model_name
        return [
            path("<int:pk>/revoke/", view(self.revoke_view), name=f"workspaces_{name}_revoke"),
            *super().get_urls(),
        ]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}  # one key at a time, each revoke confirmed

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # revoked, never deleted: the audit log names them

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        membership = self.owner_only(request)
        form = forms.KeyCreateForm(request.POST or None, initial={"once": secrets.token_urlsafe(16)})
        title = f"New {self.noun}"
        back = reverse(f"panel:workspaces_{self.model._meta.model_name}_changelist")
        if request.method == "POST" and form.is_valid():
            used: list[str] = request.session.get(KEYS_SHOWN, [])
            once = form.cleaned_data["once"]
            if once and once in used:  # the secret's page reloaded: its key exists, shown once already
                self.message_user(
                    request,
                    f"That {self.noun} was made already; its secret was shown once and is not shown again.",
                    messages.WARNING,
                )
                return HttpResponseRedirect(back)
            if once:
                request.session[KEYS_SHOWN] = [*used[-19:], once]
            made = self.create(request, membership, form.cleaned_data["name"])
            context = self.settings_context(
                request,
                f"Your new {self.noun}",
                secret=made.raw,
                record=made.record,
                noun=self.noun,
                back=back,
            )
            response = self.page(request, "workspaces/settings/secret.html", context)
            response["Cache-Control"] = "no-store"  # the secret exists only in this answer
            return response
        context = self.settings_context(
            request, title, form=form, lead=self.lead, submit=f"Create {self.noun}", data_form="key"
        )
        return self.page(request, "workspaces/settings/form.html", context, status=400 if form.errors else 200)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        self.owner_only(request)
        return HttpResponseRedirect(reverse(f"panel:workspaces_{self.model._meta.model_name}_changelist"))

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        raise PermissionDenied

    def revoke_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.owner_only(request)
        key = get_object_or_404(self.get_queryset(request), pk=pk)
        back = reverse(f"panel:workspaces_{self.model._meta.model_name}_changelist")
        if request.method == "POST":
            services.key_revoke(key=key, actor=acting_user(request))
            self.message_user(request, f"Revoked {key.name} ({key.prefix}…).", messages.SUCCESS)
            return HttpResponseRedirect(back)
        context = self.settings_context(
            request,
            f"Revoke {key.name}?",
            text=f"Anything still using {key.prefix}… stops working at once: {self.revoke_effect}. "
            "This cannot be undone.",
            confirm=f"Revoke {self.noun}",
            back=back,
            already=key.revoked_at is not None,
        )
        return self.page(request, "workspaces/settings/confirm.html", context)

    revoke_effect = ""


@admin.register(WriteKey, site=panel_site)
class WriteKeySettingsAdmin(SecretSettingsAdmin):
    settings_key = "write_keys"
    noun = "write key"
    lead = (
        "A write key lets an app or server send activities (track, identify, page, screen) to this workspace, "
        "nothing else."
    )
    revoke_effect = "its calls to /v1/ are refused with 401"
    list_display = ["name_column", "prefix_column", "created_column", "made_by", "status_column", "revoke_column"]

    @display(description="Created by")
    def made_by(self, key: WriteKey) -> str:
        return key.created_by.get_username() if key.created_by else "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("created_by")

    def create(self, request: HttpRequest, membership: Membership, name: str) -> services.NewSecret:
        return services.write_key_create(workspace=membership.workspace, name=name, actor=acting_user(request))


@admin.register(ApiToken, site=panel_site)
class ApiTokenSettingsAdmin(SecretSettingsAdmin):
    settings_key = "tokens"
    noun = "management token"
    lead = (
        "A management token calls the management API (/api/v1/) as you, with your role: keep it as safe as "
        "your password."
    )
    revoke_effect = "its calls to /api/v1/ are refused with 401"
    list_display = [
        "name_column",
        "prefix_column",
        "member",
        "created_column",
        "last_used",
        "status_column",
        "revoke_column",
    ]
    search_fields = ["name", "prefix", "membership__user__email", "membership__user__username"]

    @display(description="Acts as")
    def member(self, token: ApiToken) -> str:
        return f"{token.membership.user.get_username()} ({token.membership.get_role_display()})"

    @display(description="Last used", ordering="last_used_at")
    def last_used(self, token: ApiToken) -> str:
        return local_time(token.last_used_at, token.workspace) if token.last_used_at else "never"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("membership__user")

    def create(self, request: HttpRequest, membership: Membership, name: str) -> services.NewSecret:
        return services.api_token_create(membership=membership, name=name)


# --- Members -------------------------------------------------------------------------------------------


@admin.register(Membership, site=panel_site)
class MembershipSettingsAdmin(SettingsAdmin):
    settings_key = "members"
    list_display = ["member", "role_column", "joined", "tokens", "row_actions"]
    list_filter = ["role"]
    search_fields = ["user__email", "user__username", "user__first_name", "user__last_name"]
    list_display_links = None
    ordering = ["user__email", "user__username"]
    change_list_template = "workspaces/settings/member_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("user", "workspace")
            .annotate(active_tokens=Count("api_tokens", filter=Q(api_tokens__revoked_at__isnull=True)))
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    @display(description="Member", ordering="user__email")
    def member(self, membership: Membership) -> str:
        user = membership.user
        name = user.get_full_name()
        email = user.email or user.get_username()
        invited = "" if user.has_usable_password() else " · invited, no password yet"
        return format_html(
            "{}<span class='text-xs text-base-500'>{}{}</span>", f"{name} · " if name else "", email, invited
        )

    @display(description="Role", ordering="role", label={"Owner": "success", "Marketer": "info", "Analyst": "warning"})
    def role_column(self, membership: Membership) -> str:
        return membership.get_role_display()

    @display(description="Member since", ordering="created_at")
    def joined(self, membership: Membership) -> str:
        return local_time(membership.created_at, membership.workspace)

    @display(description="Active tokens")
    def tokens(self, membership: Membership) -> int:
        return int(membership.active_tokens)  # type: ignore[attr-defined]

    @display(description="")
    def row_actions(self, membership: Membership) -> str:
        return format_html(
            '<span class="flex gap-2"><a class="button-secondary" href="{}" data-role-change="{}">Change role</a>'
            '<a class="button-danger" href="{}" data-remove="{}">Remove</a></span>',
            reverse("panel:workspaces_membership_change", args=[membership.pk]),
            membership.user.get_username(),
            reverse("panel:workspaces_membership_remove", args=[membership.pk]),
            membership.user.get_username(),
        )

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/remove/", view(self.remove_view), name="workspaces_membership_remove"),
            # The invited person is not signed in yet: Django's reset-token view, outside admin_view.
            path(
                "set-password/<uidb64>/<token>/",
                auth_views.PasswordResetConfirmView.as_view(
                    form_class=forms.MemberSetPasswordForm,
                    template_name="workspaces/settings/set_password.html",
                    success_url=reverse_lazy("panel:login"),
                    extra_context={"site_title": "Nudge", "title": "Set your password"},
                ),
                name="workspaces_membership_set_password",
            ),
            *super().get_urls(),
        ]

    def one(self, request: HttpRequest, pk: int | str) -> Membership:
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        """Invite by email: an existing user joins with the role; a new one gets a set-password link,
        shown here once for the owner to pass on."""
        membership = self.owner_only(request)
        form = forms.InviteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                invited = services.member_invite(
                    workspace=membership.workspace,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    actor=acting_user(request),
                )
            except services.SettingsError as error:
                form_errors(form, error)
            else:
                user = invited.membership.user
                if user.has_usable_password():
                    self.message_user(
                        request,
                        f"{user.get_username()} joined as {invited.membership.get_role_display()}.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("panel:workspaces_membership_changelist"))
                context = self.settings_context(
                    request, "Invitation ready", invited=invited.membership, link=set_password_link(request, user)
                )
                response = self.page(request, "workspaces/settings/invited.html", context)
                response["Cache-Control"] = "no-store"
                return response
        context = self.settings_context(
            request,
            "Invite a member",
            form=form,
            lead="Someone who already has a Nudge login joins at once; for a new email you get a link to pass on, "
            "with which they set their password.",
            submit="Invite",
            data_form="invite",
        )
        return self.page(request, "workspaces/settings/form.html", context, status=400 if form.errors else 200)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """Change a member's role (never leaving the workspace without an owner)."""
        self.owner_only(request)
        if not object_id.isdigit():
            return HttpResponseRedirect(reverse("panel:workspaces_membership_changelist"))
        target = self.one(request, object_id)
        form = forms.RoleForm(request.POST or None, initial={"role": target.role})
        if request.method == "POST" and form.is_valid():
            try:
                services.membership_role_change(
                    membership=target, role=form.cleaned_data["role"], actor=acting_user(request)
                )
                target.refresh_from_db(fields=["role"])
                self.message_user(
                    request, f"{target.user.get_username()} is now {target.get_role_display()}.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("panel:workspaces_membership_changelist"))
            except services.SettingsError as error:
                form_errors(form, error)
        context = self.settings_context(
            request,
            f"Role of {target.user.get_username()}",
            form=form,
            lead="Roles take effect at once, for the panel and for this member's management tokens.",
            submit="Save role",
            data_form="role",
        )
        return self.page(request, "workspaces/settings/form.html", context, status=400 if form.errors else 200)

    def remove_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.owner_only(request)
        target = self.one(request, pk)
        back = reverse("panel:workspaces_membership_changelist")
        problem = ""
        if request.method == "POST":
            try:
                services.membership_remove(membership=target, actor=acting_user(request))
                self.message_user(request, f"Removed {target.user.get_username()}.", messages.SUCCESS)
                return HttpResponseRedirect(back)
            except services.SettingsError as error:
                problem = next(iter(error.problems.values()))
        context = self.settings_context(
            request,
            f"Remove {target.user.get_username()}?",
            text=f"They lose access to {target.workspace.name} at once, and their management tokens stop working. "
            "Their login stays, with any other workspaces.",
            confirm="Remove member",
            back=back,
            problem=problem,
        )
        return self.page(request, "workspaces/settings/confirm.html", context, status=400 if problem else 200)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        raise PermissionDenied  # removing goes through remove_view (the last-owner rule)


def set_password_link(request: HttpRequest, user: User) -> str:
    """A one-time link (Django's password-reset token: it dies once the password is set, or after
    PASSWORD_RESET_TIMEOUT)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return request.build_absolute_uri(reverse("panel:workspaces_membership_set_password", args=[uid, token]))


# --- The audit log -------------------------------------------------------------------------------------


class WhenFilter(admin.SimpleListFilter):
    title = "when"
    parameter_name = "when"
    DAYS = {"1": 1, "7": 7, "30": 30, "90": 90}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1", "Past 24 hours"), ("7", "Past 7 days"), ("30", "Past 30 days"), ("90", "Past 90 days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        days = self.DAYS.get(self.value() or "")
        return queryset.filter(created_at__gte=timezone.now() - timedelta(days=days)) if days else queryset


@admin.register(AuditLogEntry, site=panel_site)
class AuditLogSettingsAdmin(SettingsAdmin):
    """Read-only: nobody adds, changes or deletes an entry."""

    settings_key = "audit"
    list_display = ["when", "who", "action", "object_type", "object_column", "changes_column"]
    list_filter = ["action", "object_type", ("actor", admin.RelatedOnlyFieldListFilter), WhenFilter]
    search_fields = ["actor_label", "object_repr", "object_id"]
    date_hierarchy = "created_at"
    list_display_links = None
    show_full_result_count = False
    change_list_template = "workspaces/settings/audit_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("workspace")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        self.owner_only(request)
        return HttpResponseRedirect(reverse("panel:workspaces_auditlogentry_changelist"))

    @display(description="When", ordering="created_at")
    def when(self, entry: AuditLogEntry) -> str:
        return local_time(entry.created_at, entry.workspace)

    @display(description="Who", ordering="actor_label")
    def who(self, entry: AuditLogEntry) -> str:
        return entry.actor_label

    @display(description="Object")
    def object_column(self, entry: AuditLogEntry) -> str:
        return entry.object_repr or entry.object_id

    @display(description="What changed")
    def changes_column(self, entry: AuditLogEntry) -> str:
        if not entry.changes:
            return ""
        text = "; ".join(f"{key}: {value}" for key, value in entry.changes.items())
        return text if len(text) <= 160 else text[:159] + "…"
