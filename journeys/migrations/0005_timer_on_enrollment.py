"""Timers move onto their enrollments: `due_at` (already kept in step with the timer row) is the timer,
`timer_held` says its journey is paused. A held timer keeps its flag; an enrollment that had a due time
but no timer row (none should) loses the due time, so nothing fires that would not have fired before.
The journey and version foreign keys lose their own indexes (`enrollment_history` leads with the
journey; nothing reads enrollments by version alone)."""

import django.db.models.deletion
from django.db import migrations, models


def timers_fold(apps, schema_editor):
    db = schema_editor.connection.alias
    enrollments = apps.get_model("journeys", "Enrollment").objects.using(db)
    timers = apps.get_model("journeys", "Timer").objects.using(db)
    enrollments.filter(pk__in=timers.filter(held=True).values("enrollment_id")).update(timer_held=True)
    enrollments.filter(due_at__isnull=False).exclude(pk__in=timers.values("enrollment_id")).update(due_at=None)


def timers_unfold(apps, schema_editor):
    db = schema_editor.connection.alias
    Timer = apps.get_model("journeys", "Timer")
    Timer.objects.using(db).bulk_create(
        Timer(workspace_id=e.workspace_id, enrollment_id=e.pk, due_at=e.due_at, held=e.timer_held)
        for e in apps.get_model("journeys", "Enrollment").objects.using(db).filter(due_at__isnull=False).iterator()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0004_quarantine_out_of_range_activities"),
        ("journeys", "0004_journeybacktest"),
        ("workspaces", "0002_workspace_journeys_generation"),
    ]

    operations = [
        migrations.AddField(
            model_name="enrollment",
            name="timer_held",
            field=models.BooleanField(default=False, help_text="Its journey is paused: the timer waits for resume"),
        ),
        migrations.RunPython(timers_fold, timers_unfold),
        migrations.RemoveField(model_name="timer", name="enrollment"),
        migrations.RemoveField(model_name="timer", name="workspace"),
        migrations.AlterField(
            model_name="enrollment",
            name="due_at",
            field=models.DateTimeField(blank=True, help_text="When its timer fires", null=True),
        ),
        migrations.AlterField(
            model_name="enrollment",
            name="journey",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="enrollments",
                to="journeys.journey",
            ),
        ),
        migrations.AlterField(
            model_name="enrollment",
            name="version",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="enrollments",
                to="journeys.journeyversion",
            ),
        ),
        migrations.AddIndex(
            model_name="enrollment",
            index=models.Index(
                condition=models.Q(("due_at__isnull", False), ("timer_held", False)),
                fields=["due_at"],
                name="enrollment_due",
            ),
        ),
        migrations.DeleteModel(name="Timer"),
    ]
