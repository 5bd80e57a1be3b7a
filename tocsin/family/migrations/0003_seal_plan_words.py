"""Seal every family plan's words to the vault (and, where the member let the legal team
see them, to the legal key) before 0004 drops the plain columns. Sealing needs only the
public keys, which every process holds; going back needs the vault's private key."""

from typing import Any

from django.db import migrations

TEXTS = ("children", "medication", "documents", "message")


def seal_words(apps: Any, schema_editor: Any) -> None:
    # The sealing helpers of today's code: a sealed box is the same whenever it is made.
    from tocsin.family.models import seal_for_legal, seal_texts

    FamilyPlan = apps.get_model("family", "FamilyPlan")
    plans = FamilyPlan.objects.using(schema_editor.connection.alias)
    for plan in plans.order_by("pk").iterator():
        texts = {name: getattr(plan, name) or "" for name in TEXTS}
        if not any(text.strip() for text in texts.values()):
            continue
        plans.filter(pk=plan.pk).update(
            sealed=seal_texts(texts),
            legal_tasks=seal_for_legal(texts, plan.language) if plan.legal_may_see_plan else [],
        )


def unseal_words(apps: Any, schema_editor: Any) -> None:
    # Back to plain columns: only where the vault's private key is (a worker's keys).
    from tocsin import vault

    FamilyPlan = apps.get_model("family", "FamilyPlan")
    plans = FamilyPlan.objects.using(schema_editor.connection.alias)
    for plan in plans.exclude(sealed=b"").order_by("pk").iterator():
        if not bytes(plan.sealed):
            continue
        opened = vault.unseal(bytes(plan.sealed))
        plans.filter(pk=plan.pk).update(**{name: str(opened.get(name) or "") for name in TEXTS})


class Migration(migrations.Migration):
    dependencies = [
        ("family", "0002_plan_words_sealed"),
    ]

    # Going back opens the words with the vault's private key (raises without it).
    operations = [migrations.RunPython(seal_words, unseal_words)]
