# Shifts are the committee's duty roster: the model moves to committees
# (committees.0006_shift), its table and rows stay where they are.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("mobilize", "0002_shift"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Shift")],
            database_operations=[],
        ),
    ]
