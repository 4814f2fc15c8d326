"""A behavior as marketers see it: its document, and the journey it compiles to (which holds its versions,
open matches as enrollments, durable timers and counters)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from journeys.models import Journey
from workspaces.models import Workspace


class Behavior(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="behaviors")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, help_text="Firing records the activity behavior:<slug>")
    document = models.JSONField(help_text="name, slug, steps, max_once_per (PRODUCT.md §7)")
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
