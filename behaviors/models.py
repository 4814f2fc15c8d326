"""A behavior as marketers see it: its document, and the journey it compiles to (which holds its versions,
open matches as enrollments, durable timers and counters)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from config.fields import JSONField
from journeys.models import Journey
from workspaces.models import Workspace


class Behavior(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="behaviors")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, help_text="Firing records the activity behavior:<slug>")
    document = JSONField(help_text="name, slug, steps, max_once_per (PRODUCT.md §7)")
    journey = models.OneToOneField(
        Journey,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="behavior",
        help_text="The compiled journey; none while the behavior is a draft that never ran",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "slug"], name="behavior_slug_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        return self.journey.status if self.journey is not None else "draft"


class Backfill(models.Model):
    """A behavior evaluated over the stored activities of the `days` before `until` (the moment it was
    asked for), so its open matches and past firings stand as if it had been running then. Walked
    through the workspace's profiles in committed batches: `cursor` is the last profile id handled, so a
    backfill that dies resumes where it stopped and never handles a profile twice."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        CANCELLED = "cancelled"

    behavior = models.ForeignKey(Behavior, on_delete=models.CASCADE, related_name="backfills")
    version = models.ForeignKey(
        "journeys.JourneyVersion",
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The behavior's version at the time: open matches join it",
    )
    document = JSONField(help_text="The behavior as it was when asked for (edits during the run do not mix in)")
    days = models.PositiveSmallIntegerField()
    since = models.DateTimeField()
    until = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    cursor = models.BigIntegerField(default=0, help_text="The last profile id handled")
    profiles_total = models.PositiveIntegerField(default=0)
    profiles_done = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0, help_text="Profiles whose activities started a match")
    skipped_live = models.PositiveIntegerField(default=0, help_text="Profiles the live path had already reached")
    opened = models.PositiveIntegerField(default=0, help_text="Matches still open at `until`, now waiting")
    fired = models.PositiveIntegerField(default=0, help_text="Firings recorded in the history")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Once per behavior: a second pass would record its firings again.
            models.UniqueConstraint(fields=["behavior"], name="backfill_once_per_behavior")
        ]
        indexes = [models.Index(fields=["created_at"], condition=Q(status="running"), name="backfill_running")]

    def __str__(self) -> str:
        return f"{self.behavior} over {self.days} days ({self.status})"

    @property
    def progress(self) -> float:
        return 1.0 if self.status != self.Status.RUNNING else self.profiles_done / max(self.profiles_total, 1)
