"""The index of deliveries awaiting a receipt holds only channels whose devices send one
(web push): every email or SMS sent added an entry the look back never read, 1.4 us of
each such delivery's write on SQLite (docs/benchmarks.md)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0009_delivery_checks_no_key"),
        ("members", "0007_factor_enrollment_window"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="delivery",
            name="delivery_awaiting_receipt",
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(
                    ("fell_back", False),
                    ("kind__in", ["webpush"]),
                    ("receipt_at__isnull", True),
                    ("status", "sent"),
                ),
                fields=["sent_at"],
                name="delivery_awaiting_receipt",
            ),
        ),
    ]
