"""Profiles, their identities and devices, and the activity store.

The activity table is built for tens of millions of rows: writes are multi-row INSERTs (never an ORM
save per event), and its indexes serve the two hot reads — one profile's recent history
(profile, timestamp) and one activity name over time (workspace, name, timestamp).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from config.fields import JSONField
from workspaces.models import Workspace


class IdentityKind(models.TextChoices):
    USER_ID = "user_id", "User id"
    ANONYMOUS_ID = "anonymous_id", "Anonymous id"


class ProfileQuerySet(models.QuerySet):
    def live(self) -> ProfileQuerySet:
        """Profiles that have not been merged into another one."""
        return self.filter(merged_into__isnull=True)


class Profile(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="profiles")
    user_id = models.CharField(max_length=255, null=True, blank=True)
    traits = JSONField(default=dict, blank=True)
    email = models.CharField(max_length=254, blank=True, help_text="From traits.email, lower-cased")
    phone = models.CharField(max_length=32, blank=True, help_text="From traits.phone")
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA name from context.timezone")
    locale = models.CharField(max_length=35, blank=True)
    # Opt-outs: {"email": false, "promotional": false, "sms:promotional": false}; absent means allowed.
    consent = JSONField(default=dict, blank=True)
    tags = JSONField(default=list, blank=True)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set on an anonymous profile once merged; the row stays only so late references resolve.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = ProfileQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "user_id"], condition=Q(user_id__isnull=False), name="profile_user_id_unique"
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "email"], name="profile_ws_email"),
            models.Index(fields=["workspace", "-last_seen"], name="profile_ws_last_seen"),
        ]

    def __str__(self) -> str:
        return self.user_id or self.email or f"anonymous #{self.pk}"


class Identity(models.Model):
    """Every id a profile is known by (its user id, earlier user ids and anonymous ids), unique per
    workspace: the unique index is what makes identity resolution safe when requests race."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=IdentityKind.choices)
    value = models.CharField(max_length=255)
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="identities")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [models.UniqueConstraint(fields=["workspace", "kind", "value"], name="identity_unique")]

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


class PushDevice(models.Model):
    """A push token (or a web-push subscription) of one device; a token belongs to one profile."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="push_devices")
    token = models.CharField(max_length=512)
    platform = models.CharField(max_length=32, help_text="ios, android, web … as sent in context.device.type")
    subscription = JSONField(default=dict, blank=True, help_text="Web-push subscription keys")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "token"], name="push_device_token_unique")]

    def __str__(self) -> str:
        return f"{self.platform} {self.token[:12]}…"


class Activity(models.Model):
    # Neither foreign key has an index of its own (the composite indexes below lead with each), and the
    # workspace is not checked by the database (written from the write key's workspace; deletion
    # cascades in Django): every stored activity maintains two indexes and one deferred check fewer.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="activities", db_index=False)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, help_text="Segment call type: track, page, screen, identify …")
    properties = JSONField(default=dict, blank=True)
    context = JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(help_text="When it happened (clock-skew corrected)")
    received_at = models.DateTimeField()
    message_id = models.CharField(max_length=100)

    class Meta:
        verbose_name_plural = "activities"
        indexes = [
            models.Index(fields=["profile", "timestamp"], name="activity_profile_ts"),
            models.Index(fields=["workspace", "name", "timestamp"], name="activity_ws_name_ts"),
            models.Index(fields=["workspace", "timestamp"], name="activity_ws_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class DedupeKey(models.Model):
    """One row per accepted messageId: the unique constraint is the deduplication. Kept in its own
    small table so the window can be pruned without touching the activity store."""

    # No index of its own: the unique (workspace, message_id) leads with it.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    message_id = models.CharField(max_length=100)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "message_id"], name="dedupe_key_unique")]

    def __str__(self) -> str:
        return self.message_id


class EvaluationBatch(models.Model):
    """Outbox of stored activities awaiting the evaluation pipeline: written in the ingestion
    transaction, deleted once processed, so a lost task or a dead worker never loses an evaluation."""

    # A short-lived outbox row read by key: no index on the workspace, no database check of it.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    activity_ids = JSONField()
    created_at = models.DateTimeField(db_index=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "evaluation batches"

    def __str__(self) -> str:
        return f"batch #{self.pk} ({len(self.activity_ids)} activities)"


class TrackedActivity(models.Model):
    """Every activity name seen in a workspace, with counts and the property keys seen with types."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tracked_activities")
    name = models.CharField(max_length=200)
    count = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    properties = JSONField(default=dict, blank=True, help_text='{"price": ["number"], …}')

    class Meta:
        verbose_name_plural = "tracked activities"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="tracked_activity_unique")]

    def __str__(self) -> str:
        return self.name


class IngestionError(models.Model):
    """What the workspace's integrators should see: a message ingestion refused (the rest of its batch
    was stored), or a stored activity the pipeline could not evaluate (quarantined, so that it never
    holds back the activities stored with it). Pruned after NUDGE_INGESTION_ERRORS_DAYS."""

    class Kind(models.TextChoices):
        REFUSED = "refused"
        QUARANTINED = "quarantined"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    endpoint = models.CharField(max_length=40, blank=True, help_text="/v1/batch …, or the pipeline's consumer")
    field = models.CharField(max_length=200, blank=True)
    error = models.TextField()
    message_id = models.CharField(max_length=100, blank=True)
    activity = models.ForeignKey(Activity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    excerpt = models.TextField(blank=True, help_text="The start of the message as it was sent")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="ingestion_error_ws_created")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.field} {self.error[:60]}"
