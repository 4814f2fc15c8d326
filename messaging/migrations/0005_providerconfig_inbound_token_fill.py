import secrets

from django.db import migrations


def fill(apps, schema_editor):
    """Every existing provider gets its own token; the callback URLs given out before keep working
    (`legacy_inbound_token`) until the token is rotated, so an upgrade does not silently drop STOP
    replies."""
    ProviderConfig = apps.get_model("messaging", "ProviderConfig")
    for config in ProviderConfig.objects.filter(inbound_token__isnull=True).only("pk"):
        ProviderConfig.objects.filter(pk=config.pk).update(
            inbound_token=secrets.token_urlsafe(24), legacy_inbound_token=True
        )


class Migration(migrations.Migration):
    """Data only: tokens for the providers configured before 0004."""

    dependencies = [("messaging", "0004_providerconfig_inbound_token")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
