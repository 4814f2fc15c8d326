"""Writes on messaging: templates (checked whole before saving: channel fields, Liquid, variants,
category, webhook addresses), provider settings' checks, callback-token rotation, previews and test
sends. Each write lands in the audit log."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from activities.models import Profile
from messaging.channels import FIELDS, FieldProblem, content_problems, render_content, variant_for
from messaging.models import (
    Channel,
    Message,
    MessageStatus,
    MessagingPolicy,
    ProviderConfig,
    Template,
    inbound_token_new,
)
from messaging.outbound import host_problem, url_problem
from messaging.providers.base import KINDS, Destination, PermanentError
from messaging.rendering import RenderError, sms_length
from messaging.tracking import message_context
from workspaces.models import TestProfile, Workspace
from workspaces.services import audit_log_append


class TemplateError(ValueError):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


class TemplateInUse(ValueError):
    """A running journey sends the template: deleting it would fail those messages."""

    def __init__(self, journeys: list[Any]) -> None:
        names = ", ".join(f"{j.name!r} ({j.get_status_display().lower()})" for j in journeys)
        super().__init__(f"journey{'s' if len(journeys) > 1 else ''} {names} send{'' if len(journeys) > 1 else 's'} it")
        self.journeys = journeys


def _sending(template: Template) -> list[Any]:
    from journeys.selectors import journeys_sending

    return journeys_sending(workspace_id=template.workspace_id, channel=template.channel, template=template.name)


def policy_for(workspace_id: int) -> MessagingPolicy:
    policy, _ = MessagingPolicy.objects.get_or_create(workspace_id=workspace_id)
    return policy


def template_problems(workspace: Workspace, data: dict[str, Any]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    channel = data.get("channel")
    if channel not in Channel.values:
        return [FieldProblem("channel", f"must be one of {', '.join(Channel.values)}")]
    problems += content_problems(channel, data.get("content"), "content")
    variants = data.get("variants") or {}
    if not isinstance(variants, dict):
        problems.append(FieldProblem("variants", 'must map locales to fields: {"tr": {"title": "…"}}'))
    else:
        for locale, fields in variants.items():
            if not isinstance(fields, dict):
                problems.append(FieldProblem(f"variants.{locale}", "must be an object of the channel's fields"))
                continue
            # A variant may leave fields to the default; only what it sets is checked.
            merged = {**(data.get("content") or {}), **fields} if isinstance(data.get("content"), dict) else fields
            problems += [
                p
                for p in content_problems(channel, merged, f"variants.{locale}")
                if p.field.split(".", 2)[-1] in fields or p.field == f"variants.{locale}"
            ]
    problems += _webhook_url_problems(workspace, channel, data)
    category = data.get("category", "promotional")
    slugs = [c.get("slug") for c in policy_for(workspace.pk).categories if isinstance(c, dict)]
    if category not in slugs:
        problems.append(
            FieldProblem("category", f"must be one of the workspace's categories: {', '.join(map(str, slugs))}")
        )
    return problems


def _webhook_url_problems(workspace: Workspace, channel: str, data: dict[str, Any]) -> list[FieldProblem]:
    """A webhook's URL must pass the outbound policy (checked again when it is called)."""
    if channel != Channel.WEBHOOK:
        return []
    content, variants = data.get("content"), data.get("variants")
    urls = [("content.url", content.get("url"))] if isinstance(content, dict) else []
    variants = variants if isinstance(variants, dict) else {}
    urls += [
        (f"variants.{locale}.url", fields.get("url")) for locale, fields in variants.items() if isinstance(fields, dict)
    ]
    problems = []
    for field, url in urls:
        if isinstance(url, str) and "://" in url:  # a path or a bare word is content_problems' to name
            problem = url_problem(url, allow_private=workspace.allow_private_webhooks, webhook=True)
            if problem is not None:
                problems.append(FieldProblem(field, problem))
    return problems


def provider_config_problems(*, kind: str, options: Any, secret: str) -> list[str]:
    """Why a provider configuration cannot work (every problem), checked before it is saved: what the
    provider itself needs, and that every address it would call passes the outbound policy."""
    if kind not in KINDS:
        return [f"unknown provider kind {kind!r}"]
    if not isinstance(options, dict):
        return ["settings must be a JSON object"]
    try:
        provider = import_string(KINDS[kind])(options, secret)
    except PermanentError as error:
        return [str(error)]
    destinations: list[Destination] = getattr(provider, "destinations", [])
    problems = []
    for destination in destinations:
        problem = host_problem(destination.host, destination.port)
        if problem is not None:
            problems.append(f"{destination.field}: {problem}")
    return problems


def provider_inbound_rotate(*, config: ProviderConfig, actor: User | None) -> ProviderConfig:
    """A new callback token: the provider's old inbound and delivery-report URLs stop working at once."""
    config.inbound_token = inbound_token_new()
    config.legacy_inbound_token = False
    config.save(update_fields=["inbound_token", "legacy_inbound_token", "updated_at"])
    audit_log_append(workspace=config.workspace, actor=actor, action="rotated_callback_urls", obj=config)
    return config


@transaction.atomic
def template_save(
    *, workspace: Workspace, actor: User | None, data: dict[str, Any], template: Template | None = None
) -> Template:
    """Create (or replace the fields of) a template; every problem reported at once, nothing saved."""
    merged = {
        "name": data.get("name", template.name if template else None),
        "channel": data.get("channel", template.channel if template else None),
        "category": data.get("category", template.category if template else "promotional"),
        "content": data.get("content", template.content if template else None),
        "variants": data.get("variants", template.variants if template else {}),
    }
    problems = template_problems(workspace, merged)
    name = merged["name"]
    if not isinstance(name, str) or not name or len(name) > 200 or not all(c.isalnum() or c in "-_" for c in name):
        problems.insert(0, FieldProblem("name", "must be 1–200 letters, digits, - or _"))
    moved = template is not None and (merged["name"], merged["channel"]) != (template.name, template.channel)
    if moved and template is not None and (sending := _sending(template)):  # its senders would find nothing
        field = "name" if merged["name"] != template.name else "channel"
        problems.insert(0, FieldProblem(field, f"cannot change while {TemplateInUse(sending)}"))
    if problems:
        raise TemplateError(problems)
    target = template or Template(workspace=workspace, created_by=actor)
    for field in ("name", "channel", "category", "content", "variants"):
        setattr(target, field, merged[field])
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError as error:
        raise TemplateError(
            [FieldProblem("name", f"a template named {name!r} already exists for {merged['channel']}")]
        ) from error
    audit_log_append(workspace=workspace, actor=actor, action="changed" if template else "created", obj=target)
    return target


@transaction.atomic
def template_delete(*, template: Template, actor: User | None) -> None:
    """Refused (TemplateInUse) while a running journey sends it."""
    if sending := _sending(template):
        raise TemplateInUse(sending)
    audit_log_append(workspace=template.workspace, actor=actor, action="deleted", obj=template)
    template.delete()


@dataclass(frozen=True)
class Preview:
    locale: str
    content: dict[str, Any]
    sms: dict[str, Any] | None
    problems: tuple[FieldProblem, ...] = ()


def template_preview(*, template: Template, profile: Profile, event: dict[str, Any] | None = None) -> Preview:
    """The template as this profile would get it (its locale's variant, rendered). Nothing is stored.
    Raises RenderError when a field cannot be rendered (as the send would fail)."""
    preview = content_preview(
        workspace=template.workspace,
        channel=template.channel,
        content=template.content,
        variants=template.variants,
        profile=profile,
        event=event,
    )
    if preview.problems:
        raise RenderError("; ".join(f"{p.field}: {p.message}" for p in preview.problems))
    return preview


def content_preview(
    *,
    workspace: Workspace,
    channel: str,
    content: dict[str, Any],
    variants: dict[str, Any],
    profile: Profile,
    locale: str | None = None,
    event: dict[str, Any] | None = None,
) -> Preview:
    """Fields not saved yet (the panel's editor, as the marketer types) as this profile would get them:
    the variant for `locale` (the profile's own by default), rendered as a send renders it. A field with
    a problem (Liquid syntax, an unknown filter) is left out of the rendering and named, with its line,
    in `problems`; the other fields still render. Nothing is stored."""
    chosen = profile.locale if locale is None else locale
    fields = variant_for(content, variants, chosen)
    problems = tuple(content_problems(channel, dict(fields), "content"))
    broken = {p.field.split(".")[1].split("[")[0] for p in problems if p.field.count(".")}
    draft = Message(pk=0, workspace=workspace, profile=profile, channel=channel, payload={"event": event or {}})
    context = message_context(draft, profile)
    rendered: dict[str, Any] = {}
    for name, value in fields.items():
        if name in broken or name not in FIELDS.get(channel, {}):
            continue
        try:
            rendered |= render_content(channel, {name: value}, context)
        except RenderError as error:
            problems += (FieldProblem(f"content.{name}", f"Liquid error on {error}"),)
    sms = None
    if channel == Channel.SMS:
        length = sms_length(str(rendered.get("body", "")))
        sms = {"encoding": length.encoding, "characters": length.units, "segments": length.segments}
    return Preview(chosen, rendered, sms, problems)


def template_test_send(*, template: Template, actor: User | None) -> list[Message]:
    """Queue the template to every test profile of the workspace (they bypass nothing: consent and
    addresses apply; caps and quiet hours do not, test sends are transactional by nature)."""
    profiles = [t.profile for t in TestProfile.objects.filter(workspace=template.workspace).select_related("profile")]
    batch, now = uuid.uuid4().hex[:12], timezone.now()
    messages = Message.objects.bulk_create(
        [
            Message(
                workspace=template.workspace,
                profile=profile,
                channel=template.channel,
                template=template.name,
                payload={"event": {}, "test": True},
                idempotency_key=f"test:{template.pk}:{profile.pk}:{batch}",
                status=MessageStatus.QUEUED,
                send_after=now,
            )
            for profile in profiles
        ]
    )
    audit_log_append(
        workspace=template.workspace, actor=actor, action="test_sent", obj=template, changes={"profiles": len(profiles)}
    )
    from messaging.tasks import deliver_soon

    transaction.on_commit(deliver_soon)
    return messages


class TestProfileError(ValueError):
    pass


def test_profile_add(*, workspace: Workspace, actor: User | None, profile: Profile, label: str = "") -> TestProfile:
    """Make one of the workspace's profiles a receiver of test sends (named `label`, else its id)."""
    if profile.workspace_id != workspace.pk:
        raise TestProfileError("No such profile in this workspace.")
    label = (label.strip() or str(profile))[:100]
    test_profile, created = TestProfile.objects.get_or_create(
        workspace=workspace, profile=profile, defaults={"label": label}
    )
    if not created:
        raise TestProfileError(f"{profile} is already a test profile ({test_profile.label}).")
    audit_log_append(workspace=workspace, actor=actor, action="created", obj=test_profile)
    return test_profile


def test_profile_remove(*, test_profile: TestProfile, actor: User | None) -> None:
    audit_log_append(workspace=test_profile.workspace, actor=actor, action="deleted", obj=test_profile)
    test_profile.delete()


def categories_problems(workspace: Workspace, categories: list[dict[str, Any]]) -> list[FieldProblem]:
    """What is wrong with a new list of message categories: each needs a slug (unique) and a name, and
    a category templates still use cannot go (their sends would no longer know their category)."""
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for i, category in enumerate(categories):
        slug, name = category.get("slug"), category.get("name")
        if not isinstance(slug, str) or not slug or len(slug) > 64 or not all(c.isalnum() or c in "-_" for c in slug):
            problems.append(FieldProblem(f"categories[{i}].slug", "must be 1–64 letters, digits, - or _"))
        elif slug in seen:
            problems.append(FieldProblem(f"categories[{i}].slug", f"{slug!r} is listed twice"))
        else:
            seen.add(slug)
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            problems.append(FieldProblem(f"categories[{i}].name", "must be 1–100 characters"))
    if not categories:
        problems.append(FieldProblem("categories", "keep at least one category"))
    used = Counter(
        Template.objects.filter(workspace=workspace).exclude(category__in=seen).values_list("category", flat=True)
    )
    for slug, count in sorted(used.items()):
        problems.append(FieldProblem("categories", f"{slug!r} is used by {count} template(s): keep it or move them"))
    return problems


def categories_save(*, workspace: Workspace, actor: User | None, categories: list[dict[str, Any]]) -> MessagingPolicy:
    """Replace the workspace's message categories; every problem reported at once, nothing saved."""
    problems = categories_problems(workspace, categories)
    if problems:
        raise TemplateError(problems)
    policy = policy_for(workspace.pk)
    before = policy.categories
    policy.categories = [
        {"slug": c["slug"], "name": c["name"].strip(), "transactional": bool(c.get("transactional"))}
        for c in categories
    ]
    policy.save(update_fields=["categories"])
    audit_log_append(
        workspace=workspace,
        actor=actor,
        action="changed",
        obj=policy,
        changes={"categories": [before, policy.categories]},
    )
    return policy


# --- The workspace's messaging settings (the panel's Settings pages) ----------------------------------


class SettingsProblems(ValueError):
    """Messaging settings refused: each problem as (field, message), nothing saved."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems


@transaction.atomic
def policy_update(
    *,
    workspace: Workspace,
    actor: User | None,
    quiet_hours_start: Any,
    quiet_hours_end: Any,
    frequency_caps: list[dict[str, Any]],
) -> MessagingPolicy:
    """Replace the workspace's quiet hours and frequency caps, checked whole: caps as delivery reads
    them, each on a channel and a category the workspace has (categories are `categories_save`'s)."""
    from messaging.pacing import caps_parse

    policy = MessagingPolicy.objects.select_for_update().get(pk=policy_for(workspace.pk).pk)
    slugs = [c.get("slug") for c in policy.categories if isinstance(c, dict)]
    transactional = {c.get("slug") for c in policy.categories if isinstance(c, dict) and c.get("transactional")}
    problems: list[tuple[str, str]] = []
    if (quiet_hours_start is None) != (quiet_hours_end is None):
        problems.append(("quiet_hours_end" if quiet_hours_end is None else "quiet_hours_start", "give both times"))
    elif quiet_hours_start is not None and quiet_hours_start == quiet_hours_end:
        problems.append(("quiet_hours_end", "must differ from the start"))
    _, cap_problems = caps_parse(frequency_caps)
    problems += cap_problems
    for i, cap in enumerate(frequency_caps):
        if cap.get("category", "*") not in ("*", *slugs):
            problems.append((f"frequency_caps[{i}].category", "is not one of the workspace's categories"))
        elif cap.get("category") in transactional:  # a cap there would never apply: say so, not store it
            problems.append(
                (f"frequency_caps[{i}].category", "is transactional: transactional messages are never capped")
            )
        if cap.get("channel", "*") not in ("*", *Channel.values):
            problems.append((f"frequency_caps[{i}].channel", "is not a channel"))
    if problems:
        raise SettingsProblems(problems)
    before = {
        "quiet_hours": [str(policy.quiet_hours_start or ""), str(policy.quiet_hours_end or "")],
        "frequency_caps": policy.frequency_caps,
    }
    policy.frequency_caps = frequency_caps
    policy.quiet_hours_start, policy.quiet_hours_end = quiet_hours_start, quiet_hours_end
    policy.save(update_fields=["quiet_hours_start", "quiet_hours_end", "frequency_caps"])
    after = {
        "quiet_hours": [str(quiet_hours_start or ""), str(quiet_hours_end or "")],
        "frequency_caps": frequency_caps,
    }
    changes = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if changes:
        audit_log_append(workspace=workspace, actor=actor, action="changed", obj=policy, changes=changes)
    return policy


def provider_config_save(
    *, workspace: Workspace, channel: str, kind: str, options: dict[str, Any], secret: str | None, actor: User | None
) -> ProviderConfig:
    """Set the channel's provider (a blank `secret` keeps the one stored, when the kind stays); refused
    with every problem `provider_config_problems` names, nothing saved. The secret is never audited."""
    if channel not in Channel.values:
        raise SettingsProblems([("channel", "is not a channel")])
    with transaction.atomic():
        config = ProviderConfig.objects.select_for_update().filter(workspace=workspace, channel=channel).first()
        kept = config.secret if config is not None and config.kind == kind else ""
        secret = secret or kept
        problems = provider_config_problems(kind=kind, options=options, secret=secret)
        if problems:
            raise SettingsProblems([("", problem) for problem in problems])
        created = config is None
        config = config or ProviderConfig(workspace=workspace, channel=channel)
        changes = {"kind": kind, "settings": options, "secret": "changed" if secret != config.secret else "kept"}
        config.kind, config.settings, config.secret = kind, options, secret
        config.save()
        audit_log_append(
            workspace=workspace, actor=actor, action="created" if created else "changed", obj=config, changes=changes
        )
    return config


def provider_config_delete(*, config: ProviderConfig, actor: User | None) -> None:
    """The channel goes back to the deployment's default provider (or none)."""
    audit_log_append(workspace=config.workspace, actor=actor, action="deleted", obj=config)
    config.delete()


@dataclass(frozen=True)
class ProviderTestOutcome:
    sent: bool
    detail: str  # the provider's id for the message, or why it failed (secrets redacted)


TEST_CONTENT: dict[str, dict[str, Any]] = {
    "email": {"subject": "Nudge test message", "text": "Your email provider works.", "html": ""},
    "sms": {"body": "Nudge test message: your SMS provider works."},
    "push": {"title": "Nudge test", "body": "Your push provider works."},
    "web_push": {"title": "Nudge test", "body": "Your web push provider works."},
    "in_app": {"title": "Nudge test", "body": "Your in-app messages work."},
}


def provider_test_send(
    *, workspace: Workspace, channel: str, to: str, profile: Profile | None, actor: User | None
) -> ProviderTestOutcome:
    """Send a fixed test message through the channel's provider now, to an address (email, phone) or a
    test profile's address and devices, and say what happened. Nothing is queued or kept but the audit
    entry; the provider's own outbound checks apply."""
    from messaging.providers.base import Device, Outgoing, PermanentError, TransientError, provider_for, reason_clean

    devices: tuple[Device, ...] = ()
    if profile is not None:
        rows = profile.push_devices.order_by("-updated_at")
        rows = rows.filter(platform="web") if channel == "web_push" else rows.exclude(platform="web")
        devices = tuple(Device(d.pk, d.token, d.platform, d.subscription) for d in rows[:10])
        to = {"email": profile.email, "sms": profile.phone}.get(channel, ",".join(d.token for d in devices))
    outcome: ProviderTestOutcome
    if not to and channel != "in_app":
        outcome = ProviderTestOutcome(False, "there is no address to send to for this channel")
    else:
        key = f"provider-test:{workspace.pk}:{channel}:{uuid.uuid4().hex[:12]}"
        outgoing = Outgoing(
            message_id=0,
            idempotency_key=key,
            workspace_id=workspace.pk,
            channel=channel,
            to=to,
            content=TEST_CONTENT.get(channel, {}),
            devices=devices,
        )
        try:
            outcome = ProviderTestOutcome(True, provider_for(workspace.pk, channel).send(outgoing))
        except (PermanentError, TransientError) as error:
            outcome = ProviderTestOutcome(False, reason_clean(str(error)))
    audit_log_append(
        workspace=workspace,
        actor=actor,
        action="test_sent",
        object_type="providerconfig",
        changes={"channel": channel, "sent": outcome.sent, "detail": outcome.detail},
    )
    return outcome
