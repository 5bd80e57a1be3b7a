"""The family plan's words get sealed columns (tocsin.family.models.FamilyPlan.sealed and
legal_tasks); 0003 seals the words already written and 0004 drops the plain columns.
Three migrations, so that PostgreSQL never alters a table with row updates pending in the
same transaction."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("family", "0001_family_plans_and_panic"),
    ]

    operations = [
        migrations.AddField(
            model_name="familyplan",
            name="sealed",
            field=models.BinaryField(blank=True, default=b""),
        ),
        migrations.AddField(
            model_name="familyplan",
            name="legal_tasks",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
