"""Forms of the messaging settings: one provider form per kind, built from the kind's options as README's
"Messaging setup" lists them (the secret write-only: blank keeps it), the send-test form, and the
sending rules (quiet hours, frequency caps, categories). Types are checked here; `messaging.services`
decides the rest and its problems are shown at these fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.forms.utils import ErrorDict
from unfold.widgets import (
    UnfoldAdminEmailInputWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from journeys.forms import DurationField
from messaging.models import Channel


@dataclass(frozen=True)
class Option:
    name: str
    label: str
    kind: str = "text"  # text, int, bool, url
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class ProviderKind:
    key: str  # messaging.providers.base.KINDS
    label: str
    options: tuple[Option, ...] = ()
    credential: str = ""  # what the secret is called; empty when the kind has none
    credential_help: str = ""
    credential_multiline: bool = False  # a JSON key or a PEM file


FILE = ProviderKind("file", "Outbox file (testing: each message is written to var/outbox/, nothing is sent)")
PROVIDER_KINDS: dict[str, tuple[ProviderKind, ...]] = {
    Channel.EMAIL: (
        ProviderKind(
            "smtp",
            "SMTP server",
            (
                Option("host", "Host", required=True, help="e.g. smtp.example.com"),
                Option("port", "Port", "int", help="587 with STARTTLS, 465 with SSL, 25 plain"),
                Option("username", "Username"),
                Option("use_tls", "Use STARTTLS", "bool"),
                Option("use_ssl", "Use SSL", "bool"),
                Option("from_email", "From address", help="Used when a template sets none"),
            ),
            credential="Password",
        ),
        ProviderKind(
            "anymail",
            "Email service API (Postmark, Mailgun, SendGrid, Brevo, …)",
            (
                Option(
                    "esp", "Service", required=True, help="django-anymail's name: postmark, mailgun, sendgrid, brevo, …"
                ),
                Option("from_email", "From address"),
                Option("api_url", "API URL", "url", help="Only for a regional or self-hosted endpoint"),
                Option("sender_domain", "Sender domain", help="Mailgun"),
            ),
            credential="API key",
            credential_help="Postmark: the server token",
        ),
        FILE,
    ),
    Channel.SMS: (
        ProviderKind(
            "twilio",
            "Twilio (or a Twilio-compatible API)",
            (
                Option("account_sid", "Account SID", required=True),
                Option("from_number", "From number", required=True, help="In E.164 form, e.g. +15550001234"),
                Option("base_url", "API base URL", "url", help="Leave empty for https://api.twilio.com"),
            ),
            credential="Auth token",
        ),
        FILE,
    ),
    Channel.PUSH: (
        ProviderKind(
            "fcm",
            "Firebase Cloud Messaging (Android, iOS)",
            (Option("project_id", "Project ID", required=True),),
            credential="Service-account key (JSON)",
            credential_multiline=True,
        ),
        ProviderKind(
            "apns",
            "Apple Push Notification service",
            (
                Option("team_id", "Team ID", required=True),
                Option("key_id", "Key ID", required=True),
                Option("bundle_id", "Bundle ID", required=True),
                Option("base_url", "API base URL", "url", help="https://api.sandbox.push.apple.com for development"),
            ),
            credential="Signing key (.p8)",
            credential_multiline=True,
        ),
        FILE,
    ),
    Channel.WEB_PUSH: (
        ProviderKind(
            "webpush",
            "Web Push (VAPID)",
            (Option("vapid_subject", "VAPID subject", required=True, help="mailto:you@example.com or https://…"),),
            credential="VAPID private key",
            credential_multiline=True,
        ),
        FILE,
    ),
}
CONFIGURABLE = tuple(PROVIDER_KINDS)  # in-app and webhook need no provider


def provider_kind(channel: str, key: str) -> ProviderKind | None:
    return next((k for k in PROVIDER_KINDS.get(channel, ()) if k.key == key), None)


def _field(option: Option) -> forms.Field:
    common: dict[str, Any] = {"label": option.label, "required": False, "help_text": option.help}
    if option.kind == "int":
        return forms.IntegerField(min_value=1, max_value=65535, widget=UnfoldAdminIntegerFieldWidget(), **common)
    if option.kind == "bool":
        return forms.BooleanField(widget=UnfoldBooleanSwitchWidget(), **common)
    if option.kind == "url":
        return forms.URLField(max_length=500, assume_scheme="https", widget=UnfoldAdminTextInputWidget(), **common)
    return forms.CharField(max_length=500, widget=UnfoldAdminTextInputWidget(), **common)


class ProviderForm(forms.Form):
    """The channel's provider: its kind (the form refreshes on change), the kind's settings, the secret."""

    kind = forms.ChoiceField(label="Provider", widget=UnfoldAdminSelectWidget())

    def __init__(self, *args: Any, channel: str, kind: str, stored: Mapping[str, Any], secret_set: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.channel = channel
        self.kinds = PROVIDER_KINDS[channel]
        self.fields["kind"].choices = [(k.key, k.label) for k in self.kinds]  # type: ignore[attr-defined]
        self.chosen = provider_kind(channel, kind) or self.kinds[0]
        self.secret_set = secret_set
        for option in self.chosen.options:
            self.fields[option.name] = _field(option)
            self.initial.setdefault(option.name, stored.get(option.name))
        if self.chosen.credential:
            state = "set — leave empty to keep it" if secret_set else "not set"
            widget = (
                UnfoldAdminTextareaWidget(attrs={"rows": 4, "autocomplete": "off", "class": "font-mono text-xs"})
                if self.chosen.credential_multiline
                else UnfoldAdminPasswordWidget(render_value=False, attrs={"autocomplete": "new-password"})
            )
            self.fields["secret"] = forms.CharField(
                label=f"{self.chosen.credential} ({state})",
                required=False,
                max_length=2000,
                strip=False,
                widget=widget,
                help_text=self.chosen.credential_help or "Write-only: Nudge never shows it again.",
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for option in self.chosen.options:
            if option.required and not data.get(option.name) and option.name not in self.errors:
                self.add_error(option.name, f"Enter the {option.label}.")
        return data

    def options(self) -> dict[str, Any]:
        """The provider's settings as stored: what was filled in (an empty box is left out)."""
        found: dict[str, Any] = {}
        for option in self.chosen.options:
            value = self.cleaned_data.get(option.name)
            if value not in (None, "", False):
                found[option.name] = value.strip() if isinstance(value, str) else value
        return found


class ProviderTestForm(forms.Form):
    test_profile = forms.ChoiceField(label="Send to a test profile", required=False, widget=UnfoldAdminSelectWidget())
    to = forms.CharField(label="Or to this address", required=False, max_length=320)

    def __init__(self, *args: Any, channel: str, profiles: Sequence[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel = channel
        self.fields["test_profile"].choices = [("", "—"), *((str(pk), label) for pk, label in profiles)]  # type: ignore[attr-defined]
        if channel == Channel.EMAIL:
            self.fields["to"] = forms.EmailField(
                label="Or to this email address", required=False, widget=UnfoldAdminEmailInputWidget()
            )
        elif channel == Channel.SMS:
            self.fields["to"] = forms.RegexField(
                label="Or to this phone number",
                regex=r"^\+[1-9]\d{6,14}$",
                required=False,
                error_messages={"invalid": "Enter a phone number in E.164 form, e.g. +15550001234."},
                widget=UnfoldAdminTextInputWidget(),
            )
        else:
            del self.fields["to"]  # push and web push go to a test profile's devices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("test_profile") and not data.get("to") and not self.errors:
            where = "to" if "to" in self.fields else "test_profile"
            self.add_error(where, "Choose a test profile" + (" or enter an address." if where == "to" else "."))
        return data


# --- Sending rules --------------------------------------------------------------------------------------

ANY = "*"
CHANNEL_CHOICES = [(ANY, "Any channel"), *((c.value, c.label) for c in Channel if c != Channel.WEBHOOK)]


class QuietHoursForm(forms.Form):
    quiet_hours_start = forms.TimeField(
        label="Quiet from",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time", "class": "border border-base-200 rounded-default px-3 py-2"}),
    )
    quiet_hours_end = forms.TimeField(
        label="Until",
        required=False,
        help_text="In each profile's own timezone; a send inside the window waits until it ends.",
        widget=forms.TimeInput(attrs={"type": "time", "class": "border border-base-200 rounded-default px-3 py-2"}),
    )


class CapRowForm(forms.Form):
    max = forms.IntegerField(
        label="At most", min_value=0, max_value=100_000, required=False, widget=UnfoldAdminIntegerFieldWidget()
    )
    channel = forms.ChoiceField(
        label="Channel", choices=CHANNEL_CHOICES, required=False, widget=UnfoldAdminSelectWidget()
    )
    category = forms.ChoiceField(label="Category", required=False, widget=UnfoldAdminSelectWidget())
    per = DurationField(label="Per")

    def __init__(self, *args: Any, categories: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [(ANY, "Any category"), *((c, c) for c in categories)]  # type: ignore[attr-defined]
        self.fields["per"].initial = [None, ""]  # an empty row's number and unit

    def is_blank_row(self) -> bool:
        return self.data.get(self.add_prefix("max"), "") == "" and not self.data.get(self.add_prefix("per_0"))

    def full_clean(self) -> None:
        """A row without a number (a unit chosen or not) is an empty row, left out."""
        if self.is_bound and self.is_blank_row():
            self._errors = ErrorDict()
            self.cleaned_data = {}
            return
        super().full_clean()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("max") is None and "max" not in self.errors:
            self.add_error("max", "Enter how many messages.")
        if data.get("per") is None and "per" not in self.errors:
            self.add_error("per", "Enter a number and a unit.")
        return data
