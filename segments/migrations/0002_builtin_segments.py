"""Data: the ready-made segments for workspaces created before segments existed (new workspaces get
them from segments.services.builtins_install)."""

from django.db import migrations

from segments.builtin import BUILTIN


def install(apps, schema_editor):
    Workspace = apps.get_model("workspaces", "Workspace")
    Segment = apps.get_model("segments", "Segment")
    for workspace in Workspace.objects.all():
        taken = set(Segment.objects.filter(workspace=workspace).values_list("slug", flat=True))
        Segment.objects.bulk_create(
            Segment(
                workspace=workspace,
                builtin=True,
                kind="rule",
                slug=definition["slug"],
                name=definition["name"],
                description=definition["description"],
                rule=definition["rule"],
            )
            for definition in BUILTIN
            if definition["slug"] not in taken
        )


def uninstall(apps, schema_editor):
    apps.get_model("segments", "Segment").objects.filter(builtin=True).delete()


class Migration(migrations.Migration):
    dependencies = [("segments", "0001_initial"), ("workspaces", "0002_workspace_journeys_generation")]
    operations = [migrations.RunPython(install, uninstall)]
