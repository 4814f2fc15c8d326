"""A workspace is one company's app; every domain row hangs off one. Keys are stored as SHA-256."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from config.fields import JSONField


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MARKETER = "marketer", "Marketer"
    ANALYST = "analyst", "Analyst"


# What each role may do; checked on the server by API permissions, panel views and the admin.
ROLE_RANK = {Role.ANALYST: 1, Role.MARKETER: 2, Role.OWNER: 3}


class Workspace(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name; fallback for profiles")
    journeys_generation = models.PositiveBigIntegerField(
        default=0, help_text="Bumped whenever a journey starts or stops taking entries; workers refresh on change"
    )
    allow_private_webhooks = models.BooleanField(
        default=False, help_text="Allow webhooks to private and loopback addresses"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} · {self.workspace} · {self.role}"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class KeyQuerySet(models.QuerySet):
    def active(self) -> KeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class WriteKey(models.Model):
    """Authorises ingestion (the Segment API) for one workspace, nothing else."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="write_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="First characters, to tell keys apart")
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = KeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ApiToken(models.Model):
    """A management-API token; it acts with the live role of the membership that created it."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="api_tokens")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = KeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuditLogEntry(models.Model):
    """Append-only: who created, changed, launched, paused or deleted what."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_log")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=200, help_text="Who acted, kept if the user is deleted")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="audit_ws_created")]
        verbose_name_plural = "audit log entries"

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type} {self.object_repr}"


class TestProfile(models.Model):
    """A profile (with its devices and addresses) that receives test sends from the panel and API."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="test_profiles")
    profile = models.ForeignKey("activities.Profile", on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "profile"], name="test_profile_unique")]

    def __str__(self) -> str:
        return self.label
