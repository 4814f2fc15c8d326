"""Messaging data: templates per channel, each workspace's messaging policy (categories, quiet hours,
frequency caps) and provider settings, and the message outbox. A journey's send (or webhook) step
writes one message row in the same transaction as the step, keyed so that one step can never produce
two messages; delivery workers (`messaging.delivery`) take it from there."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from activities.models import Profile
from config.fields import JSONField
from workspaces.models import Workspace


class MessageStatus(models.TextChoices):
    HELD = "held", "Held (journey paused)"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed"


class Message(models.Model):
    # Written thousands a second by the sweep and the evaluation, so each index and deferred check is
    # paid per message. The database checks only the profile, so a profile deleted meanwhile never leaves
    # a message behind: the workspace is always the profile's own and its deletion cascades in Django,
    # and an enrollment is only ever deleted with its profile (whose check then refuses the deletion).
    # Neither the workspace nor the profile has an index of its own (composite indexes below lead with each).
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="messages", db_index=False)
    enrollment = models.ForeignKey(
        "journeys.Enrollment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
        db_constraint=False,
    )
    node = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=16)
    template = models.CharField(max_length=200, blank=True)
    payload = JSONField(default=dict, blank=True, help_text="What the step knew: event, webhook request")
    idempotency_key = models.CharField(max_length=200)  # unique: `message_idempotency_key` below
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    status_reason = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    category = models.CharField(max_length=64, blank=True, help_text="The template's category when it was sent")
    send_after = models.DateTimeField(
        null=True, blank=True, help_text="Not before this moment (quiet hours, retry backoff)"
    )
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A worker is sending it until then")
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    rendered = JSONField(default=dict, blank=True, help_text="What was sent, as the provider got it")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One message per step (journey:<enrollment>:<node>:<version>) or per API call's key. A
            # constraint rather than `unique=True`, which would add a pattern-matching index nobody queries.
            models.UniqueConstraint(fields=["idempotency_key"], name="message_idempotency_key"),
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="message_ws_created"),
            models.Index(fields=["profile", "-created_at"], name="message_profile_created"),
            # What delivery takes next: cost O(due), like the timer sweep.
            models.Index(fields=["send_after"], condition=models.Q(status="queued"), name="message_due"),
            models.Index(fields=["lease_until"], condition=models.Q(status="sending"), name="message_leased"),
            # Messages of paused journeys, by channel (resuming and /metrics find them without a scan).
            models.Index(fields=["channel"], condition=models.Q(status="held"), name="message_held"),
            # Delivery reports name the provider's id.
            models.Index(
                fields=["workspace", "provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="message_provider_id",
            ),
            # Frequency caps count a profile's recent sends.
            models.Index(
                fields=["profile", "sent_at"], condition=models.Q(sent_at__isnull=False), name="message_profile_sent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.template} → {self.profile_id} ({self.status})"


class DeliveryCount(models.Model):
    """Provider calls by outcome since the start, per channel and provider kind: the `/metrics` counter,
    added to by delivery as it records outcomes, so it is exact across processes, machines and restarts.
    A writer adds to the row of its shard (its process id modulo SHARDS): concurrent batches rarely wait
    on one row."""

    SHARDS = 8

    channel = models.CharField(max_length=16)
    provider = models.CharField(max_length=32, help_text="The provider's kind: smtp, twilio, fcm, … or none")
    outcome = models.CharField(max_length=16, help_text="sent, permanent, transient or crashed")
    shard = models.PositiveSmallIntegerField(default=0)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "provider", "outcome", "shard"], name="delivery_count_unique")
        ]

    def __str__(self) -> str:
        return f"{self.channel} via {self.provider}: {self.outcome} × {self.count}"


class Channel(models.TextChoices):
    PUSH = "push", "Push"
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"
    IN_APP = "in_app", "In-app"
    WEB_PUSH = "web_push", "Web push"
    WEBHOOK = "webhook", "Webhook"


class Template(models.Model):
    """A message for one channel: its fields (Liquid allowed in text fields) and variants by locale."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="templates")
    name = models.SlugField(max_length=200, help_text="What journeys' send steps name")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    category = models.SlugField(max_length=64, default="promotional")
    content = JSONField(default=dict, help_text="The channel's fields in the default language")
    variants = JSONField(default=dict, blank=True, help_text='By locale: {"tr": {"title": …}, "pt-BR": …}')
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "channel", "name"], name="template_name_unique")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.name}"


def _default_categories() -> list[dict]:
    return [
        {"slug": "transactional", "name": "Transactional", "transactional": True},
        {"slug": "promotional", "name": "Promotional", "transactional": False},
    ]


class MessagingPolicy(models.Model):
    """A workspace's rules for every send: categories, quiet hours and frequency caps (journeys may
    override quiet hours and caps)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="messaging_policy")
    categories = JSONField(
        default=_default_categories, help_text='[{"slug", "name", "transactional"}]; transactional skips opt-outs'
    )
    quiet_hours_start = models.TimeField(null=True, blank=True, help_text="In the profile's timezone, e.g. 22:00")
    quiet_hours_end = models.TimeField(null=True, blank=True, help_text="e.g. 08:00; sends wait until then")
    frequency_caps = JSONField(
        default=list,
        blank=True,
        help_text='[{"channel": "*", "category": "promotional", "max": 3, "per": "P1D"}]; never transactional',
    )

    def __str__(self) -> str:
        return f"messaging policy of {self.workspace}"


def inbound_token_new() -> str:
    return secrets.token_urlsafe(24)


class ProviderConfig(models.Model):
    """How one channel of a workspace reaches people. `secret` (API key, password) is never shown back
    in full; `settings` holds the rest (host, port, from address, account id, base URL). The provider
    calls back (inbound SMS, delivery reports) on URLs carrying `inbound_token`, which can be rotated."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="providers")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    kind = models.CharField(max_length=32, help_text="smtp, twilio, fcm, webhook, in_app, file, …")
    settings = JSONField(default=dict, blank=True)
    secret = models.CharField(max_length=2000, blank=True)
    inbound_token = models.CharField(max_length=64, unique=True, default=inbound_token_new, editable=False)
    legacy_inbound_token = models.BooleanField(
        default=False,
        editable=False,
        help_text="Also accepts the workspace-wide callback URLs issued before tokens were per provider, "
        "until its token is first rotated",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "channel"], name="provider_one_per_channel")]

    def __str__(self) -> str:
        return f"{self.channel} via {self.kind}"

    @property
    def secret_hint(self) -> str:
        return f"…{self.secret[-4:]}" if len(self.secret) > 8 else ("set" if self.secret else "")
