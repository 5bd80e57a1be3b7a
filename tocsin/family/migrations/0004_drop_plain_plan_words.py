"""Drop the family plan's plain words (0003 sealed them)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("family", "0003_seal_plan_words"),
    ]

    operations = [
        migrations.RemoveField(model_name="familyplan", name="children"),
        migrations.RemoveField(model_name="familyplan", name="medication"),
        migrations.RemoveField(model_name="familyplan", name="documents"),
        migrations.RemoveField(model_name="familyplan", name="message"),
    ]
