from django.db import migrations, models


class Migration(migrations.Migration):
    """Per-provider callback tokens, nullable until 0005 fills them (schema only)."""

    dependencies = [("messaging", "0003_message_provider_id")]

    operations = [
        migrations.AddField(
            model_name="providerconfig",
            name="inbound_token",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="providerconfig",
            name="legacy_inbound_token",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="Also accepts the workspace-wide callback URLs issued before tokens were per provider, "
                "until its token is first rotated",
            ),
        ),
    ]
