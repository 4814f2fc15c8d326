from django.db import migrations, models

import messaging.models


class Migration(migrations.Migration):
    """Tokens required and unique from now on (schema only)."""

    dependencies = [("messaging", "0005_providerconfig_inbound_token_fill")]

    operations = [
        migrations.AlterField(
            model_name="providerconfig",
            name="inbound_token",
            field=models.CharField(
                default=messaging.models.inbound_token_new, editable=False, max_length=64, unique=True
            ),
        ),
    ]
