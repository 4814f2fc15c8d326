from django.db import migrations, models


class Migration(migrations.Migration):
    """Provider outcomes counted for /metrics; held messages indexed by channel (schema only)."""

    dependencies = [("messaging", "0006_providerconfig_inbound_token_unique")]

    operations = [
        migrations.CreateModel(
            name="DeliveryCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("channel", models.CharField(max_length=16)),
                (
                    "provider",
                    models.CharField(help_text="The provider's kind: smtp, twilio, fcm, … or none", max_length=32),
                ),
                ("outcome", models.CharField(help_text="sent, permanent, transient or crashed", max_length=16)),
                ("shard", models.PositiveSmallIntegerField(default=0)),
                ("count", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(condition=models.Q(("status", "held")), fields=["channel"], name="message_held"),
        ),
        migrations.AddConstraint(
            model_name="deliverycount",
            constraint=models.UniqueConstraint(
                fields=("channel", "provider", "outcome", "shard"), name="delivery_count_unique"
            ),
        ),
    ]
