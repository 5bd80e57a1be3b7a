# Shifts move here from mobilize (mobilize.0003_shift_moves_to_committees): the model only,
# the table keeps its name (db_table "mobilize_shift") and its rows.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("committees", "0005_committee_hotline_numbers"),
        ("members", "0007_factor_enrollment_window"),
        ("mobilize", "0003_shift_moves_to_committees"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Shift",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("starts_at", models.DateTimeField(verbose_name="starts")),
                        ("ends_at", models.DateTimeField(verbose_name="ends")),
                        (
                            "committee",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="shifts",
                                to="committees.committee",
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="members.member",
                            ),
                        ),
                        (
                            "member",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="shifts",
                                to="members.member",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "mobilize_shift",
                        "ordering": ["starts_at", "id"],
                        "indexes": [
                            models.Index(
                                fields=["committee", "ends_at"], name="shift_committee_end"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
