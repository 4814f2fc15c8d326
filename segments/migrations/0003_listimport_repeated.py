"""Schema: an import counts the rows that name only people a row above them named (`repeated`)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0002_builtin_segments"),
    ]

    operations = [
        migrations.AddField(
            model_name="listimport",
            name="repeated",
            field=models.PositiveIntegerField(default=0, help_text="Rows naming only people a row above named"),
        ),
    ]
