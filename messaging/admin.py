"""Admin for messaging, scoped by workspace: templates (checked like the API checks them), each
workspace's policy and providers (secrets write-only: shown back only as their last characters; every
address checked against the outbound policy; callback URLs rotatable by owners), and the outbox,
read-only (delivery state is the workers')."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.widgets import UnfoldAdminPasswordWidget, UnfoldAdminSelectWidget

from messaging.models import Message, MessagingPolicy, ProviderConfig, Template
from messaging.pacing import caps_parse
from messaging.providers.base import KINDS
from messaging.services import provider_config_problems, provider_inbound_rotate, template_problems
from workspaces.admin_scope import ReadOnlyScopedAdmin, WorkspaceScopedAdmin
from workspaces.models import Role
from workspaces.permissions import acting_user


@admin.register(Message)
class MessageAdmin(ReadOnlyScopedAdmin):
    list_display = ["created_at", "channel", "template", "profile", "status", "status_reason", "attempts", "sent_at"]
    list_filter = ["workspace", "channel", "status"]
    search_fields = ["template", "profile__user_id", "idempotency_key"]
    raw_id_fields = ["profile", "enrollment"]
    show_full_result_count = False


class TemplateForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = ["workspace", "name", "channel", "category", "content", "variants"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        workspace = data.get("workspace")
        if workspace is None or self.errors:
            return data
        for problem in template_problems(workspace, data):
            field = problem.field.split(".")[0].split("[")[0]
            self.add_error(field if field in self.fields else None, f"{problem.field}: {problem.message}")
        return data


@admin.register(Template)
class TemplateAdmin(WorkspaceScopedAdmin):
    form = TemplateForm
    list_display = ["name", "channel", "category", "workspace", "updated_at"]
    list_filter = ["workspace", "channel", "category"]
    search_fields = ["name"]


class PolicyForm(forms.ModelForm):
    class Meta:
        model = MessagingPolicy
        fields = ["workspace", "categories", "quiet_hours_start", "quiet_hours_end", "frequency_caps"]

    def clean_frequency_caps(self) -> Any:
        caps = self.cleaned_data.get("frequency_caps")
        _, problems = caps_parse(caps)
        if problems:
            raise forms.ValidationError([f"{field}: {message}" for field, message in problems])
        return caps

    def clean_categories(self) -> Any:
        categories = self.cleaned_data.get("categories")
        valid = isinstance(categories, list) and all(
            isinstance(c, dict) and isinstance(c.get("slug"), str) and c["slug"] for c in categories
        )
        if not valid:
            raise forms.ValidationError('must be a list of {"slug", "name", "transactional"} objects')
        return categories


@admin.register(MessagingPolicy)
class MessagingPolicyAdmin(WorkspaceScopedAdmin):
    change_role = Role.OWNER  # quiet hours, caps and categories are the workspace's settings
    form = PolicyForm
    list_display = ["workspace", "quiet_hours_start", "quiet_hours_end"]
    list_filter = ["workspace"]


class ProviderForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=[(k, k) for k in KINDS], widget=UnfoldAdminSelectWidget)
    secret = forms.CharField(
        required=False,
        widget=UnfoldAdminPasswordWidget(render_value=False),
        help_text="API key, auth token or password. Leave empty to keep the current one.",
    )

    class Meta:
        model = ProviderConfig
        fields = ["workspace", "channel", "kind", "settings", "secret"]

    def clean_secret(self) -> str:
        secret = self.cleaned_data.get("secret") or ""
        return secret or (self.instance.secret if self.instance.pk else "")

    def clean(self) -> dict[str, Any]:
        """A configuration the provider cannot work with is refused here, not at the first send."""
        data = super().clean() or {}
        kind, options = data.get("kind"), data.get("settings")
        if kind in KINDS and not self.errors:
            if not isinstance(options, dict):
                self.add_error("settings", "must be a JSON object")
                return data
            for problem in provider_config_problems(kind=kind, options=options, secret=data.get("secret") or ""):
                self.add_error(None, problem)
        return data


@admin.register(ProviderConfig)
class ProviderConfigAdmin(WorkspaceScopedAdmin):
    change_role = Role.OWNER  # provider credentials are the workspace's settings
    form = ProviderForm
    list_display = ["workspace", "channel", "kind", "secret_hint", "updated_at"]
    list_filter = ["workspace", "channel", "kind"]
    readonly_fields = ["callback_urls"]
    actions = ["rotate_callback_urls"]

    @admin.display(description="Give these to the provider")
    def callback_urls(self, obj: ProviderConfig) -> str:
        if not obj.pk:
            return "Shown once saved."
        base, token = settings.NUDGE_PUBLIC_URL.rstrip("/"), obj.inbound_token
        reports = f"Delivery reports: {base}/m/status/{token}"
        return f"Inbound SMS: {base}/m/sms/{token} · {reports}" if obj.channel == "sms" else reports

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request, Role.OWNER)

    @admin.action(description="Issue new callback URLs (the old ones stop working)", permissions=["rotate"])
    def rotate_callback_urls(self, request: HttpRequest, queryset: QuerySet[ProviderConfig]) -> None:
        rotated = 0
        for config in queryset.select_related("workspace"):
            if self._allowed(request, Role.OWNER, config):  # owners of that workspace only
                provider_inbound_rotate(config=config, actor=acting_user(request))
                rotated += 1
        self.message_user(
            request, f"New callback URLs for {rotated} provider(s); give them to the provider.", messages.SUCCESS
        )
