"""Journeys, their published versions and enrollments (one profile's entry into one version), which
carry the durable timer that wakes them up.

An enrollment's timer is its `due_at` (the end of the wait or delay it rests at); the sweep claims due
enrollments through a partial index on unheld due times, so its cost follows the number due, not the
number waiting, and firing a timer is one update of the row it moves. Pausing a journey holds its
enrollments' timers (`timer_held`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from activities.models import Profile
from config.fields import JSONField
from workspaces.models import Workspace


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    LIVE = "live", "Live"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"
    ARCHIVED = "archived", "Archived"


class Journey(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="journeys")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT)
    draft = JSONField(help_text="The document being edited; publishing makes it a version")
    live_version = models.ForeignKey(
        "JourneyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Moves with every saved edit of the draft: a save made from an older revision is refused (two
    # marketers editing one draft see a conflict, not a silent overwrite).
    draft_revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["workspace", "status"], name="journey_ws_status")]

    def __str__(self) -> str:
        return self.name


class JourneyVersion(models.Model):
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    document = JSONField()
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["journey", "-number"]
        constraints = [models.UniqueConstraint(fields=["journey", "number"], name="journey_version_unique")]

    def __str__(self) -> str:
        return f"{self.journey} v{self.number}"


class Enrollment(models.Model):
    """One profile's entry into one journey version, with where it rests and the path it took."""

    # Workspace, journey and version are written only from the live journey they belong to, and their
    # deletions cascade (or are refused) in Django, so the database checks only the profile: each
    # deferred foreign-key check costs every inserted enrollment ~7 µs at commit, thousands a second.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    # No index of their own: every query by journey leads with it in `enrollment_history`, and versions
    # are read through journeys (a version is never deleted while it has enrollments).
    journey = models.ForeignKey(
        Journey, on_delete=models.CASCADE, related_name="enrollments", db_index=False, db_constraint=False
    )
    version = models.ForeignKey(
        JourneyVersion, on_delete=models.PROTECT, related_name="enrollments", db_index=False, db_constraint=False
    )
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="enrollments")
    entry_activity_id = models.BigIntegerField(null=True, blank=True, help_text="The activity that entered it")
    entered_at = models.DateTimeField()
    trigger = JSONField(default=dict, blank=True, help_text="The entry activity's properties")
    node = models.CharField(max_length=64, null=True, blank=True)
    wait_started = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, help_text="When its timer fires")
    timer_held = models.BooleanField(default=False, help_text="Its journey is paused: the timer waits for resume")
    path = JSONField(default=list, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    exit_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        constraints = [
            # A profile is never in the same journey twice at the same time (§8.2), enforced here.
            models.UniqueConstraint(
                fields=["journey", "profile"], condition=Q(exit_at__isnull=True), name="enrollment_one_active"
            ),
            # The same activity, evaluated twice (a retried batch), enters once.
            models.UniqueConstraint(
                fields=["journey", "entry_activity_id"],
                condition=Q(entry_activity_id__isnull=False),
                name="enrollment_entry_once",
            ),
        ]
        indexes = [
            models.Index(fields=["journey", "profile", "entered_at"], name="enrollment_history"),
            # "Waiting now" per node, for reports and the drawn flow.
            models.Index(fields=["journey", "node"], condition=Q(exit_at__isnull=True), name="enrollment_waiting"),
            # The timer sweep: due, unheld timers, oldest first.
            models.Index(fields=["due_at"], condition=Q(due_at__isnull=False, timer_held=False), name="enrollment_due"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} in {self.journey_id} since {self.entered_at:%Y-%m-%d %H:%M}"


class JourneyStat(models.Model):
    """A daily counter (UTC days) per journey version: entries, conversions, exits by reason, node
    arrivals, edges taken, messages written. Incremented once per batch by an upsert, so a report
    reads a few rows per day instead of scanning enrollments."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="stats")
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="stats")
    day = models.DateField()
    metric = models.CharField(max_length=32)
    node = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=64, blank=True)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "version", "day", "metric", "node", "outcome"], name="journey_stat_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.journey_id} v{self.version_id} {self.day} {self.metric} {self.node} {self.outcome}"


class ScheduledRun(models.Model):
    """One scheduled entry of a segment journey (its start, or one daily recurrence). Its audience is
    selected once, set-based (`ScheduledEntrant` rows), then walked in committed batches: `cursor` is the
    last profile id handled, so a run that dies resumes where it stopped and never enters anyone twice."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="scheduled_runs")
    moment = models.DateTimeField()
    cursor = models.BigIntegerField(default=0)
    entered = models.PositiveIntegerField(default=0)
    audience = models.PositiveIntegerField(null=True, blank=True, help_text="Profiles selected; null until selected")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["journey", "moment"], name="scheduled_run_unique")]

    def __str__(self) -> str:
        return f"{self.journey} at {self.moment:%Y-%m-%d %H:%M}"


class ScheduledEntrant(models.Model):
    """A profile a scheduled run selected (its audience at the run's moment), until the run finishes."""

    run = models.ForeignKey(ScheduledRun, on_delete=models.CASCADE, related_name="+")
    profile_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "profile_id"], name="scheduled_entrant_unique")]

    def __str__(self) -> str:
        return f"{self.profile_id} in run {self.run_id}"


class BacktestQuerySet(models.QuerySet):
    def unfinished(self) -> BacktestQuerySet:
        """Queued or running: what the periodic task picks up (a dead worker's run included)."""
        return self.filter(status__in=JourneyBacktest.UNFINISHED)


class JourneyBacktest(models.Model):
    """A journey's draft replayed on the engine over the workspace's stored activities of `days` before
    `until` (the moment it was asked for), counting what would have happened; nothing else is stored or
    sent (journeys/backtest.py, where the `result` shape is described). Walked through the profiles in
    committed chunks: `cursor` is the last profile id replayed, so a run that dies resumes where it
    stopped and never counts a profile twice."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    UNFINISHED = (Status.QUEUED, Status.RUNNING)

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="backtests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    document = JSONField(help_text="The draft as it was when asked for (edits during the run do not mix in)")
    days = models.PositiveSmallIntegerField()
    since = models.DateTimeField()
    until = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, help_text="Why it failed")
    cursor = models.BigIntegerField(default=0, help_text="The last profile id replayed")
    profiles_total = models.PositiveIntegerField(default=0, help_text="Profiles to replay; known once running")
    profiles_done = models.PositiveIntegerField(default=0)
    activities_done = models.PositiveBigIntegerField(default=0)
    result = JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = BacktestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One unfinished backtest per journey: asking again while one runs answers that one.
            models.UniqueConstraint(
                fields=["journey"], condition=Q(status__in=["queued", "running"]), name="backtest_one_unfinished"
            )
        ]
        indexes = [
            models.Index(fields=["journey", "-created_at"], name="backtest_journey_recent"),
            models.Index(
                fields=["created_at"], condition=Q(status__in=["queued", "running"]), name="backtest_unfinished"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.journey} over {self.days} days ({self.status})"

    @property
    def progress(self) -> float:
        """0 to 1: profiles replayed of those to replay."""
        if self.status == self.Status.DONE:
            return 1.0
        return min(self.profiles_done / self.profiles_total, 1.0) if self.profiles_total else 0.0
