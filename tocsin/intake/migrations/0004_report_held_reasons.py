from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0002_reportphoto"),
    ]

    operations = [
        migrations.AddField(
            model_name="report",
            name="held_reasons",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
    ]
