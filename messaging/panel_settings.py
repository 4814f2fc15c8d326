"""Messaging settings in the panel (owners only, PRODUCT.md §9): the provider of each channel (a form per
kind, the secret write-only, a send test with its outcome, the callback URLs with their token and a
rotate button, removal back to the default) and the sending rules — quiet hours and frequency caps of
the workspace's messaging policy. Its categories are edited on the Messages pages (`messaging_categories`),
listed among the settings here. Views call `messaging.services`."""

from __future__ import annotations

import re
from typing import Any

from django import forms as django_forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from journeys.forms import DurationWidgetValue
from messaging import services
from messaging.models import Channel, MessagingPolicy, ProviderConfig
from messaging.settings_forms import (
    CONFIGURABLE,
    PROVIDER_KINDS,
    CapRowForm,
    ProviderForm,
    ProviderTestForm,
    QuietHoursForm,
    provider_kind,
)
from panel.sites import panel_site
from workspaces.models import TestProfile
from workspaces.panel import SettingsAdmin, SettingsPage, settings_page_add
from workspaces.permissions import acting_user

settings_page_add(
    SettingsPage(
        "providers",
        "Providers",
        "messaging_providerconfig_changelist",
        "How each channel reaches people: email, SMS, push, web push; send a test.",
        "send",
        50,
    )
)
settings_page_add(
    SettingsPage(
        "categories",
        "Categories",
        "messaging_categories",  # the Messages pages' (messaging/panel.py)
        "Message categories people can opt out of; transactional ones skip opt-outs, caps and quiet hours.",
        "label",
        70,
    )
)
settings_page_add(
    SettingsPage(
        "rules",
        "Sending rules",
        "messaging_messagingpolicy_changelist",
        "Quiet hours and frequency caps.",
        "schedule",
        60,
    )
)


def callback_urls(config: ProviderConfig) -> list[tuple[str, str]]:
    """What to give the provider: its delivery-report URL (and inbound SMS for SMS), with the token."""
    base = settings.NUDGE_PUBLIC_URL.rstrip("/")
    urls = [("Delivery reports", f"{base}/m/status/{config.inbound_token}")]
    if config.channel == Channel.SMS:
        urls.insert(0, ("Inbound SMS (replies, STOP)", f"{base}/m/sms/{config.inbound_token}"))
    return urls


@admin.register(ProviderConfig, site=panel_site)
class ProviderSettingsAdmin(SettingsAdmin):
    settings_key = "providers"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("", view(self.providers_view), name="messaging_providerconfig_changelist"),
            path("<str:channel>/", view(self.edit_view), name="messaging_provider_edit"),
            path("<str:channel>/test/", view(self.test_view), name="messaging_provider_test"),
            path("<str:channel>/rotate/", view(self.rotate_view), name="messaging_provider_rotate"),
            path("<str:channel>/remove/", view(self.remove_view), name="messaging_provider_remove"),
        ]

    def config(self, request: HttpRequest, channel: str) -> ProviderConfig | None:
        if channel not in CONFIGURABLE:
            raise Http404("No such channel")
        return self.get_queryset(request).filter(channel=channel).select_related("workspace").first()

    def providers_view(self, request: HttpRequest) -> HttpResponse:
        self.owner_only(request)
        configs = {c.channel: c for c in self.get_queryset(request)}
        cards = []
        for channel in Channel:
            config = configs.get(channel.value)
            kind = provider_kind(channel.value, config.kind) if config else None
            cards.append(
                {
                    "channel": channel.value,
                    "label": channel.label,
                    "configurable": channel.value in CONFIGURABLE,
                    "config": config,
                    "kind_label": kind.label if kind else (config.kind if config else ""),
                    "secret_name": kind.credential if kind else "",
                    "callbacks": callback_urls(config) if config else [],
                }
            )
        context = self.settings_context(
            request, "Providers", cards=cards, default_provider=settings.NUDGE_DEFAULT_PROVIDER
        )
        return self.page(request, "messaging/settings/providers.html", context)

    def edit_view(self, request: HttpRequest, channel: str) -> HttpResponse:
        self.owner_only(request)
        config = self.config(request, channel)
        stored = config.settings if config else {}
        kind = request.POST.get("kind") or (config.kind if config else PROVIDER_KINDS[channel][0].key)
        refresh = request.POST.get("refresh") == "1"
        same_kind = config is not None and config.kind == kind
        form = ProviderForm(
            None if refresh or request.method != "POST" else request.POST,
            channel=channel,
            kind=kind,
            # A refresh keeps what was typed in the boxes both kinds have.
            stored=(
                {k: v for k, v in request.POST.items() if k != "secret"} if refresh else stored if same_kind else {}
            ),
            secret_set=bool(config and config.secret and same_kind),
            initial={"kind": kind},
        )
        if request.method == "POST" and not refresh and form.is_valid():
            try:
                services.provider_config_save(
                    workspace=self.membership(request).workspace,
                    channel=channel,
                    kind=form.cleaned_data["kind"],
                    options=form.options(),
                    secret=form.cleaned_data.get("secret") or None,
                    actor=acting_user(request),
                )
                self.message_user(request, f"{Channel(channel).label} provider saved.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("panel:messaging_providerconfig_changelist"))
            except services.SettingsProblems as error:
                for _, message in error.problems:
                    field = _option_of(message, form)
                    if field is not None and message.startswith(f"{field}:"):
                        message = message[len(field) + 1 :].strip()
                    form.add_error(field, message[0].upper() + message[1:] + ".")
        context = self.settings_context(
            request, f"{Channel(channel).label} provider", form=form, channel=channel, config=config
        )
        return self.page(request, "messaging/settings/provider_form.html", context, status=400 if form.errors else 200)

    def test_view(self, request: HttpRequest, channel: str) -> HttpResponse:
        membership = self.owner_only(request)
        config = self.config(request, channel)
        tests = TestProfile.objects.filter(workspace=membership.workspace).select_related("profile")
        form = ProviderTestForm(
            request.POST or None, channel=channel, profiles=[(t.profile_id, t.label) for t in tests]
        )
        outcome = None
        if request.method == "POST" and form.is_valid():
            profile = None
            if form.cleaned_data["test_profile"]:
                found = next((t for t in tests if str(t.profile_id) == form.cleaned_data["test_profile"]), None)
                profile = found.profile if found else None
            outcome = services.provider_test_send(
                workspace=membership.workspace,
                channel=channel,
                to=form.cleaned_data.get("to") or "",
                profile=profile,
                actor=acting_user(request),
            )
        context = self.settings_context(
            request,
            f"Send a test {Channel(channel).label.lower()} message",
            form=form,
            channel=channel,
            config=config,
            outcome=outcome,
            default_provider=settings.NUDGE_DEFAULT_PROVIDER,
        )
        return self.page(request, "messaging/settings/provider_test.html", context, status=400 if form.errors else 200)

    def rotate_view(self, request: HttpRequest, channel: str) -> HttpResponse:
        self.owner_only(request)
        config = self.config(request, channel)
        if config is None:
            raise Http404("This channel has no provider yet")
        back = reverse("panel:messaging_providerconfig_changelist")
        if request.method == "POST":
            services.provider_inbound_rotate(config=config, actor=acting_user(request))
            self.message_user(request, "New callback URLs: give them to the provider.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        urls = " · ".join(url for _, url in callback_urls(config))
        context = self.settings_context(
            request,
            f"New callback URLs for {Channel(channel).label}?",
            text=f"The current ones ({urls}) stop working at once: delivery reports and replies sent to them are "
            "refused until the provider has the new ones.",
            confirm="Issue new callback URLs",
            back=back,
        )
        return self.page(request, "workspaces/settings/confirm.html", context)

    def remove_view(self, request: HttpRequest, channel: str) -> HttpResponse:
        self.owner_only(request)
        config = self.config(request, channel)
        if config is None:
            raise Http404("This channel has no provider yet")
        back = reverse("panel:messaging_providerconfig_changelist")
        if request.method == "POST":
            services.provider_config_delete(config=config, actor=acting_user(request))
            self.message_user(request, f"{Channel(channel).label} provider removed.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        fallback = (
            "messages fall back to the outbox file"
            if settings.NUDGE_DEFAULT_PROVIDER
            else "messages on this channel fail until another provider is set up"
        )
        context = self.settings_context(
            request,
            f"Remove the {Channel(channel).label.lower()} provider?",
            text=f"Its settings and secret are deleted and {fallback}.",
            confirm="Remove provider",
            back=back,
        )
        return self.page(request, "workspaces/settings/confirm.html", context)


def _option_of(message: str, form: ProviderForm) -> str | None:
    """The field a provider's problem names ("base_url: …", "the SMTP port …"), else the whole form."""
    head = message.split(":", 1)[0].strip()
    if head in form.fields:
        return head
    if "port" in message and "port" in form.fields:
        return "port"
    return None


# --- Sending rules: quiet hours and frequency caps ----------------------------------------------------


CapRows = django_forms.formset_factory(CapRowForm, extra=2)
_ROW = re.compile(r"^frequency_caps\[(\d+)\](?:\.(\w+))?$")


@admin.register(MessagingPolicy, site=panel_site)
class SendingRulesAdmin(SettingsAdmin):
    settings_key = "rules"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [path("", view(self.rules_view), name="messaging_messagingpolicy_changelist")]

    def rules_view(self, request: HttpRequest) -> HttpResponse:
        membership = self.owner_only(request)
        policy = services.policy_for(membership.workspace_id)
        categories = [c for c in policy.categories if isinstance(c, dict)]
        slugs = [str(c.get("slug")) for c in categories]
        if request.method == "POST":
            quiet = QuietHoursForm(request.POST)
            caps = CapRows(request.POST, prefix="caps", form_kwargs={"categories": slugs})
        else:
            quiet = QuietHoursForm(
                initial={"quiet_hours_start": policy.quiet_hours_start, "quiet_hours_end": policy.quiet_hours_end}
            )
            caps = CapRows(
                prefix="caps",
                form_kwargs={"categories": slugs},
                initial=[
                    {
                        "max": c.get("max"),
                        "channel": c.get("channel", "*"),
                        "category": c.get("category", "*"),
                        "per": DurationWidgetValue.initial(c.get("per", "P1D")),
                    }
                    for c in policy.frequency_caps
                    if isinstance(c, dict)
                ],
            )
        problems: list[str] = []
        if request.method == "POST" and all([quiet.is_valid(), caps.is_valid()]):
            kept = [f for f in caps.forms if f.cleaned_data and not f.is_blank_row()]
            try:
                services.policy_update(
                    workspace=membership.workspace,
                    actor=acting_user(request),
                    quiet_hours_start=quiet.cleaned_data["quiet_hours_start"],
                    quiet_hours_end=quiet.cleaned_data["quiet_hours_end"],
                    frequency_caps=[
                        {
                            "channel": f.cleaned_data["channel"] or "*",
                            "category": f.cleaned_data["category"] or "*",
                            "max": f.cleaned_data["max"],
                            "per": f.cleaned_data["per"],
                        }
                        for f in kept
                    ],
                )
                self.message_user(request, "Sending rules saved.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("panel:messaging_messagingpolicy_changelist"))
            except services.SettingsProblems as error:
                for field, message in error.problems:
                    text = message[0].upper() + message[1:] + "."
                    match = _ROW.match(field)
                    if field in quiet.fields:
                        quiet.add_error(field, text)
                    elif match and int(match.group(1)) < len(kept):
                        form = kept[int(match.group(1))]
                        form.add_error(match.group(2) if match.group(2) in form.fields else None, text)
                    else:
                        problems.append(text)
        context = self.settings_context(
            request,
            "Sending rules",
            quiet=quiet,
            caps=caps,
            categories=categories,
            problems=problems,
            field_errors=_field_errors(quiet, caps),
        )
        failed = bool(problems or context["field_errors"])
        return self.page(request, "messaging/settings/rules.html", context, status=400 if failed else 200)


def _field_errors(quiet: django_forms.Form, *formsets: Any) -> dict[str, list[str]]:
    """Every error by the name of the input it belongs to (`caps-0-max`; `caps-0` for a row's own)."""
    found: dict[str, list[str]] = {name: [str(e) for e in errors] for name, errors in quiet.errors.items()}
    for formset in formsets:
        for i, form in enumerate(formset.forms):
            for name, errors in form.errors.items():
                key = f"{formset.prefix}-{i}" + ("" if name == "__all__" else f"-{name}")
                found[key] = [str(e) for e in errors]
    return found
