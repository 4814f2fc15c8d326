"""Data: activities stored before times were bounded (1970 to 9998) are moved to the ingestion errors
(quarantined, with what they held) and deleted, so no reader meets a year Python cannot hold."""

from django.db import migrations

SQL = """
INSERT INTO activities_ingestionerror (workspace_id, kind, endpoint, field, error, message_id, excerpt, created_at)
SELECT workspace_id, 'quarantined', 'migration', 'timestamp',
       'timestamp is out of range (years 1970 to 9998): ' || timestamp::text,
       message_id, left(name || ' ' || properties::text, 2000), now()
FROM activities_activity
WHERE timestamp < '1970-01-01 00:00:00+00' OR timestamp >= '9999-01-01 00:00:00+00';
DELETE FROM activities_activity
WHERE timestamp < '1970-01-01 00:00:00+00' OR timestamp >= '9999-01-01 00:00:00+00';
"""


def quarantine(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite keeps times as text in Python's years: nothing to move
    schema_editor.execute(SQL)


class Migration(migrations.Migration):
    dependencies = [("activities", "0003_ingestion_errors")]
    operations = [migrations.RunPython(quarantine, migrations.RunPython.noop)]
