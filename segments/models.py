"""Segments: who a journey is for. A rule segment is a §5 condition compiled to one query; a list is
the members someone put in it. Both keep their members as rows (`Membership`): for a list they are the
list, for a rule they are the last refresh's answer (what sizes, member pages and `segment_entered`
activities read; "is P in S now" asks the rule itself)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from activities.models import Profile
from config.fields import JSONField
from workspaces.models import Workspace


class SegmentKind(models.TextChoices):
    RULE = "rule", "Rule"
    LIST = "list", "List"


class Segment(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, help_text="How journeys and rules name it; never changes")
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=8, choices=SegmentKind.choices, default=SegmentKind.RULE)
    rule = JSONField(null=True, blank=True, help_text="The condition (PRODUCT.md §5); rule segments only")
    record_changes = models.BooleanField(
        default=False, help_text="Record segment_entered / segment_exited activities when members change"
    )
    builtin = models.BooleanField(default=False, help_text="Shipped with the workspace (an editable copy)")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Refresh state: the rule's version moves with every edit; membership computed for an older version
    # (or never) is recomputed silently, without segment_entered / segment_exited.
    rule_version = models.PositiveIntegerField(default=1)
    computed_version = models.PositiveIntegerField(default=0)
    refreshes = models.PositiveBigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    size = models.BigIntegerField(default=0, help_text="Members at the last refresh (lists: now)")
    refresh_error = models.TextField(blank=True, help_text="Why the last refresh failed, if it did")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "slug"], name="segment_slug_unique")]
        indexes = [models.Index(fields=["kind", "refreshed_at"], name="segment_refresh_due")]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="segment_memberships")
    since = models.DateTimeField()

    class Meta:
        db_table = "segments_membership"  # named in segments/compiler.py
        constraints = [models.UniqueConstraint(fields=["segment", "profile"], name="segment_membership_unique")]
        indexes = [models.Index(fields=["profile"], name="segment_membership_profile")]

    def __str__(self) -> str:
        return f"{self.profile_id} in {self.segment_id}"


class SegmentSize(models.Model):
    """A segment's size at one moment: one sample per refresh (lists: per change)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="sizes")
    at = models.DateTimeField()
    size = models.BigIntegerField()
    entered = models.BigIntegerField(default=0)
    exited = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["at"]
        indexes = [models.Index(fields=["segment", "at"], name="segment_size_at")]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.size} at {self.at:%Y-%m-%d %H:%M}"


class ListImport(models.Model):
    """A CSV of user ids or emails added to a list, in committed chunks (`cursor`: the lines done), so
    an import whose worker dies resumes where it stopped; every row it could not use is kept, by line."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="imports")
    filename = models.CharField(max_length=255, blank=True)
    source = models.TextField(help_text="The file's text (UTF-8)")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    rows_total = models.PositiveIntegerField(default=0)
    cursor = models.PositiveIntegerField(default=0, help_text="Data rows handled so far")
    added = models.PositiveIntegerField(default=0)
    already = models.PositiveIntegerField(default=0, help_text="Rows naming someone already in the list")
    repeated = models.PositiveIntegerField(default=0, help_text="Rows naming only people a row above named")
    rejected = models.PositiveIntegerField(default=0)
    problems = JSONField(default=list, blank=True, help_text='[{"line": 12, "value": "…", "reason": "…"}]')
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import into {self.segment_id} ({self.status})"

    @property
    def progress(self) -> float:
        return 1.0 if self.status == self.Status.DONE else (self.cursor / self.rows_total if self.rows_total else 0.0)
