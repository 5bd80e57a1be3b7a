from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0004_report_held_reasons"),
    ]

    operations = [
        migrations.AddField(
            model_name="report",
            name="suspicious",
            field=models.BooleanField(default=False),
        ),
    ]
