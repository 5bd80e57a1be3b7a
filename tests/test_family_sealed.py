"""A family plan's words are sealed at rest (DESIGN.md section 2: a seized server reveals
nothing that identifies members): to the vault's key for the member, and, only with the
member's consent, to the legal team's key for the case a panic trigger opens."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from pytest_django.fixtures import Settings

from tests.factories import World, member, session_for, world
from tocsin import vault
from tocsin.committees.models import Role
from tocsin.family import panic, plans
from tocsin.family.models import FamilyPlan, Trigger
from tocsin.legal import keys
from tocsin.legal.models import Case
from tocsin.members.models import Member

pytestmark = pytest.mark.django_db

WORDS = {
    "children": "Xochitl picks up Tonatiuh at Malabar school",
    "medication": "Metformin-ZQ7 in the blue tin",
    "documents": "Passport under the Huipil drawer",
    "message": "Querida Itzel, call Licenciada Quiroga",
}


@pytest.fixture
def w(db: None) -> World:
    return world()


@pytest.fixture
def lucia(w: World) -> Member:
    return member("Lucia", w.east, Role.LEGAL, language="es")


def save_plan(who: Member, *, consent: bool, **words: str) -> Any:
    form = {"language": "es", **WORDS, **words}
    if consent:
        form["legal_may_see_plan"] = "on"
    return session_for(who).post(reverse("family_plan"), form)


def panic_case(who: Member, capture: Any) -> Case:
    with capture(execute=True):
        t = panic.trigger(who, Trigger.Kind.BUTTON)
    return Case.objects.get(trigger_id=t.pk)


# --- at rest ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_seized_database_holds_none_of_the_plans_words(
    w: World, lucia: Member, django_capture_on_commit_callbacks: Any
) -> None:
    from tests.test_seized_database import data_folder_image, database_image, fresh_sqlite_file

    fresh_sqlite_file()
    assert save_plan(w.member, consent=True).status_code == 302
    panic_case(w.member, django_capture_on_commit_callbacks)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    image = {**database_image(), **data_folder_image()}
    for source, content in image.items():
        for name, text in WORDS.items():
            assert text.encode() not in content, (source, name)
            assert text.encode("utf-16-le") not in content, (source, name)
    # The scan reads the committed rows: a plain field (a display name) is there.
    assert any(b"Mateo" in content for content in image.values())


def test_no_column_of_the_plan_holds_its_words(w: World) -> None:
    save_plan(w.member, consent=True)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {FamilyPlan._meta.db_table}")
        row = " ".join(str(bytes(v) if isinstance(v, memoryview) else v) for v in cursor.fetchone())
    for text in WORDS.values():
        assert text not in row
    assert {f.name for f in FamilyPlan._meta.get_fields()}.isdisjoint(WORDS)


def test_the_words_are_sealed_to_the_vault_and_the_legal_copy_to_the_legal_key(w: World) -> None:
    save_plan(w.member, consent=True)
    plan = FamilyPlan.objects.get(member=w.member)
    assert vault.unseal(bytes(plan.sealed)) == WORDS
    with pytest.raises(keys.LegalKeyMissing):  # the legal key opens no member's copy
        keys.unseal(bytes(plan.sealed))
    [(kind, blob), *_rest] = plan.legal_tasks
    with pytest.raises(Exception):  # noqa: B017 - the delivery key opens no legal copy
        vault.unseal(base64.b64decode(blob))
    assert kind == "childcare"
    assert (
        keys.unseal(base64.b64decode(blob))["text"] == f"Recoger a los niños: {WORDS['children']}"
    )


# --- the member ------------------------------------------------------------------------------


def test_the_member_reads_back_and_edits_their_plan(w: World) -> None:
    client = session_for(w.member)
    save_plan(w.member, consent=False)
    page = client.get(reverse("family_plan")).content.decode()
    for text in WORDS.values():
        assert text in page
    client.post(
        reverse("family_plan"),
        {"language": "es", **WORDS, "medication": "Insulin now, not Metformin"},
    )
    page = client.get(reverse("family_plan")).content.decode()
    assert "Insulin now, not Metformin" in page and WORDS["medication"] not in page
    assert FamilyPlan.objects.get(member=w.member).texts()["children"] == WORDS["children"]


def test_emptied_words_leave_nothing_sealed(w: World) -> None:
    save_plan(w.member, consent=True)
    save_plan(w.member, consent=True, **dict.fromkeys(WORDS, ""))
    plan = FamilyPlan.objects.get(member=w.member)
    assert bytes(plan.sealed) == b"" and plan.legal_tasks == []
    assert plans.tasks_for(w.member) == []


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_process_that_cannot_open_the_words_shows_them_sealed_and_keeps_them(
    w: World, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    save_plan(w.member, consent=True)
    w.member.language = language
    w.member.save()

    def web_only() -> Any:
        raise vault.VaultError("this process holds only the vault's public key")

    monkeypatch.setattr("tocsin.vault.keys.private_key", web_only)
    client = session_for(w.member)
    page = client.get(reverse("family_plan")).content.decode()
    said = {
        "en": "Sealed: it cannot be opened right now, and stays as it is.",
        "es": "Sellado: no se puede abrir ahora y se queda como está.",
    }
    assert said[language] in page
    assert WORDS["children"] not in page
    before = FamilyPlan.objects.get(member=w.member)
    r = client.post(reverse("family_plan"), {"language": "es", "legal_may_see_plan": "on"})
    assert r.status_code == 302
    monkeypatch.undo()
    after = FamilyPlan.objects.get(member=w.member)
    assert after.texts() == WORDS
    assert after.legal_tasks == before.legal_tasks


def test_the_members_export_still_holds_their_words(w: World) -> None:
    save_plan(w.member, consent=False)
    data = session_for(w.member).get(reverse("export_data")).json()["family_plan"]
    assert {name: data[name] for name in WORDS} == WORDS


# --- the legal team --------------------------------------------------------------------------


def test_the_legal_team_reads_the_words_when_the_member_agreed(
    w: World, lucia: Member, django_capture_on_commit_callbacks: Any
) -> None:
    save_plan(w.member, consent=True)
    case = panic_case(w.member, django_capture_on_commit_callbacks)
    page = session_for(lucia).get(reverse("legal_case", args=["east", case.pk])).text
    assert f"Recoger a los niños: {WORDS['children']}" in page
    assert WORDS["message"] in page


def test_without_consent_the_legal_team_gets_none_of_the_words(
    w: World, lucia: Member, django_capture_on_commit_callbacks: Any
) -> None:
    save_plan(w.member, consent=False)
    assert FamilyPlan.objects.get(member=w.member).legal_tasks == []
    case = panic_case(w.member, django_capture_on_commit_callbacks)
    page = session_for(lucia).get(reverse("legal_case", args=["east", case.pk])).text
    for text in WORDS.values():
        assert text not in page
    assert not {"childcare", "medication", "documents", "message"} & set(
        case.tasks.values_list("kind", flat=True)
    )


def test_withdrawn_consent_drops_the_legal_copy(w: World) -> None:
    save_plan(w.member, consent=True)
    assert len(plans.tasks_for(w.member)) == 4
    save_plan(w.member, consent=False)
    assert FamilyPlan.objects.get(member=w.member).legal_tasks == []
    assert plans.tasks_for(w.member) == []


def test_without_a_legal_key_no_legal_copy_is_kept(w: World, settings: Settings) -> None:
    settings.LEGAL_PUBLIC_KEY = ""
    settings.DATA_DIR = settings.DATA_DIR / "no-legal-key"
    save_plan(w.member, consent=True)
    plan = FamilyPlan.objects.get(member=w.member)
    assert plan.legal_tasks == [] and plan.texts() == WORDS


# --- everyone else ---------------------------------------------------------------------------


def test_an_outsider_sees_only_their_own_empty_plan(w: World) -> None:
    save_plan(w.member, consent=True)
    page = session_for(w.outsider).get(reverse("family_plan")).content.decode()
    for text in WORDS.values():
        assert text not in page
    assert plans.tasks_for(w.outsider) == []


def test_another_committees_legal_team_and_the_members_own_staff_cannot_read_the_case(
    w: World, lucia: Member, django_capture_on_commit_callbacks: Any
) -> None:
    save_plan(w.member, consent=True)
    case = panic_case(w.member, django_capture_on_commit_callbacks)
    url = reverse("legal_case", args=["east", case.pk])
    west_legal = member("Wes", w.west, Role.LEGAL)
    assert session_for(west_legal).get(url).status_code == 404
    assert session_for(west_legal).get(
        reverse("legal_case", args=["west", case.pk])
    ).status_code in (
        403,
        404,
    )
    for persona in (w.organizer, w.dispatcher, w.member, w.outsider, w.west_organizer):
        response = session_for(persona, strong=True).get(url)
        assert response.status_code == 404
        assert WORDS["children"] not in response.content.decode()


@pytest.mark.usefixtures("own_vault")
def test_a_vault_key_rotation_seals_the_words_again(w: World) -> None:
    import io

    from django.core.management import call_command

    save_plan(w.member, consent=False)
    before = bytes(FamilyPlan.objects.get(member=w.member).sealed)
    out = io.StringIO()
    call_command("vault_keys", "rotate", stdout=out)
    assert "1 family plans" in out.getvalue()
    plan = FamilyPlan.objects.get(member=w.member)
    assert bytes(plan.sealed) != before and plan.texts() == WORDS


# --- the migration ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_the_words_of_existing_plans_and_drops_the_plain_columns() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("family", "0001_family_plans_and_panic")])
    old_apps = executor.loader.project_state(("family", "0001_family_plans_and_panic")).apps
    user = old_apps.get_model("auth", "User").objects.create(username="vieja")
    Old = old_apps.get_model("members", "Member")
    agreed = Old.objects.create(user=user, display_name="Vieja")
    other = Old.objects.create(
        user=old_apps.get_model("auth", "User").objects.create(username="otra"),
        display_name="Otra",
    )
    OldPlan = old_apps.get_model("family", "FamilyPlan")
    OldPlan.objects.create(member=agreed, language="es", legal_may_see_plan=True, **WORDS)
    OldPlan.objects.create(member=other, children=WORDS["children"])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    plan = FamilyPlan.objects.get(member_id=agreed.pk)
    assert plan.texts() == WORDS
    kinds = [kind for kind, _sealed in plans.tasks_for(plan.member)]
    assert kinds == ["childcare", "medication", "documents", "message"]
    assert keys.unseal(plans.tasks_for(plan.member)[2][1]) == {
        "text": f"Documentos que hay que buscar: {WORDS['documents']}"
    }
    no_consent = FamilyPlan.objects.get(member_id=other.pk)
    assert no_consent.texts()["children"] == WORDS["children"]
    assert no_consent.legal_tasks == []
    columns = {
        c.name
        for c in connection.introspection.get_table_description(
            connection.cursor(), FamilyPlan._meta.db_table
        )
    }
    assert columns.isdisjoint(WORDS)
