"""The database no longer checks a delivery's key to its endpoint: the check locked each
endpoint of an alert at the confirm's commit (6 ms of a 1,000-member confirm on PostgreSQL).
Django's cascade still removes the rows with the endpoint (tocsin/alerts/models.py)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0008_delivery_checks_the_endpoint_key_only"),
        ("members", "0007_factor_enrollment_window"),
    ]

    operations = [
        migrations.AlterField(
            model_name="delivery",
            name="endpoint",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="members.contactendpoint",
            ),
        ),
    ]
