"""The message outbox. A journey's send (or webhook) step writes one row in the same transaction as
the step, keyed so that one step can never produce two messages; delivery workers take it from here."""

from __future__ import annotations

from django.db import models

from activities.models import Profile
from workspaces.models import Workspace


class MessageStatus(models.TextChoices):
    HELD = "held", "Held (journey paused)"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed"


class Message(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="messages")
    enrollment = models.ForeignKey(
        "journeys.Enrollment", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    node = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=16)
    template = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="What the step knew: event, webhook request")
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    status_reason = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="message_ws_created"),
            models.Index(fields=["profile", "-created_at"], name="message_profile_created"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.template} → {self.profile_id} ({self.status})"
