"""Legal cases: sealed to the legal team's own key pair, read only by the legal role of
the committee, opened by a panic trigger, a dispatcher or a call; the on-call lawyer is
assigned and told (only "someone needs help", with a signed link); tasks with due times
(the locator check comes back until the person is found; a court date becomes an
accompaniment); a timeline; an export only with a second person; purged after closing."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import EAST, World, member, session_for
from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin import vault
from tocsin.committees.models import Approval, Duty, Membership, Role, Shift
from tocsin.committees.services import set_role
from tocsin.incidents import services as incidents
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, ReportKind
from tocsin.legal import cases, keys, notices
from tocsin.legal.models import Case, Event, Notice, State, Task, TaskKind
from tocsin.members.models import Member
from tocsin.mobilize import oncall
from tocsin.mobilize.planned import Mobilization, MobilizationKind, Visibility
from tocsin.retention.purge import purge

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
WHO = "Maria Quetzal Tzunun"
A_NUMBER = "A-204-555-913"


@dataclass
class FakeTrigger:
    """What tocsin.family sends with panic_triggered (the seam agreed with the family app)."""

    pk: int
    member_id: int
    committee_id: int
    kind: str = "button"
    language: str = "es"
    at: datetime = datetime(2031, 1, 15, 17, 0, tzinfo=UTC)


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        settings.DELIVERY_RATE = {**settings.DELIVERY_RATE, "email": 0}
        yield peer


@pytest.fixture
def lucia(w: World) -> Member:
    """East's legal team: Lucia (a lawyer) and Leo."""
    return member("Lucia", w.east, Role.LEGAL, email="lucia@example.org", language="es")


@pytest.fixture
def leo(w: World) -> Member:
    return member("Leo", w.east, Role.LEGAL, email="leo@example.org")


def on_call(w: World, who: Member, duty: str = Duty.LAWYER) -> Shift:
    now = timezone.now()
    return Shift.objects.create(
        committee=w.east, member=who, duty=duty, starts_at=now - H, ends_at=now + 4 * H
    )


def call_case(w: World, by: Member) -> Case:
    return cases.open_case(
        w.east,
        source="call",
        details={"who": WHO, "a_number": A_NUMBER, "country_of_birth": "Guatemala"},
        by=by,
    )


# --- sealing ---------------------------------------------------------------------------------


def test_case_details_are_sealed_to_the_legal_key_not_the_delivery_key(
    w: World, lucia: Member
) -> None:
    case = call_case(w, lucia)
    blob = bytes(Case.objects.get(pk=case.pk).sealed)
    assert WHO.encode() not in blob and A_NUMBER.encode() not in blob
    assert cases.details(case)["a_number"] == A_NUMBER
    with pytest.raises(Exception):  # noqa: B017 - the delivery key opens no case
        vault.unseal(blob)


def test_without_the_legal_private_key_the_case_stays_sealed(
    w: World, lucia: Member, settings: Settings
) -> None:
    case = call_case(w, lucia)
    settings.LEGAL_PRIVATE_KEY = ""
    with pytest.raises(keys.LegalKeyMissing):
        cases.details(case)
    page = session_for(lucia).get(reverse("legal_case", args=["east", case.pk]))
    assert page.status_code == 200
    assert "los detalles siguen sellados" in page.text  # Lucia reads Spanish
    assert WHO not in page.text


# Committed, so the rows are in the database files a seizure would take.
@pytest.mark.django_db(transaction=True)
@pytest.mark.django_db(transaction=True)
def test_a_seized_database_and_data_folder_hold_no_case_detail(w: World, lucia: Member) -> None:
    from tests.test_seized_database import data_folder_image, database_image

    case = call_case(w, lucia)
    cases.add_task(case, TaskKind.CHILDCARE, by=lucia, text="Pick up Tito at Lincoln school")
    cases.update_details(
        case, {"who": WHO, "notes": "Detained at Soto car wash"}, by=lucia, consent=True, keep=False
    )
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # What a seizure takes: the database (its files, or a pg_dump) and the data folder.
    image = {**database_image(), **data_folder_image()}
    needles = [WHO.encode(), A_NUMBER.encode(), b"Lincoln school", b"Soto car wash"]
    for source, content in image.items():
        for needle in needles:
            assert needle not in content, (source, needle)
    # The scan reads the committed rows: a plain field (a display name) is there.
    assert any(b"Lucia" in content for content in image.values())
    private = str(django_settings.LEGAL_PRIVATE_KEY).encode()
    for source, content in image.items():
        assert private not in content, source


def test_the_legal_keys_command_writes_only_the_public_key_to_the_data_folder(
    tmp_path: Path, settings: Settings
) -> None:
    from django.core.management import call_command

    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.LEGAL_PUBLIC_KEY = ""
    out = tmp_path / "legal.key"
    call_command("legal_keys", private_key_file=str(out))
    public = (settings.DATA_DIR / "legal_public.key").read_text().strip()
    private = out.read_text().strip()
    assert keys.public_key() == public
    assert private not in (settings.DATA_DIR / "legal_public.key").read_text()
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    settings.LEGAL_PRIVATE_KEY = private
    assert keys.unseal(keys.seal({"who": WHO})) == {"who": WHO}


# --- who reads cases -------------------------------------------------------------------------


def test_only_the_legal_role_of_the_committee_reads_its_cases(w: World, lucia: Member) -> None:
    case = call_case(w, lucia)
    url = reverse("legal_case", args=["east", case.pk])
    assert WHO in session_for(lucia).get(url).text
    for persona in (w.organizer, w.dispatcher, w.responder, w.member, w.outsider):
        assert session_for(persona, strong=True).get(url).status_code == 404
    west_legal = member("Wes", w.west, Role.LEGAL)
    assert session_for(west_legal).get(url).status_code == 404
    # Another committee's case under its own slug: the same 404 as a missing one.
    west_case = cases.open_case(w.west, source="call", details={"who": "X"}, by=west_legal)
    foreign = session_for(lucia).get(reverse("legal_case", args=["east", west_case.pk]))
    missing = session_for(lucia).get(reverse("legal_case", args=["east", 987654]))
    assert foreign.status_code == missing.status_code == 404


def test_joining_the_legal_team_waits_for_a_second_person(w: World) -> None:
    membership = Membership.objects.get(committee=w.east, member=w.member)
    approval = set_role(membership, Role.LEGAL, by=w.organizer)
    assert approval is not None and approval.kind == Approval.Kind.ROLE
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER


def test_the_legal_team_proves_a_second_factor(w: World, lucia: Member, settings: Settings) -> None:
    settings.STAFF_MFA = True
    page = session_for(lucia).get(reverse("legal_cases", args=["east"]))
    assert page.status_code == 302 and page["Location"].startswith(reverse("login_verify"))
    strong = session_for(lucia, strong=True).get(reverse("legal_cases", args=["east"]))
    assert strong.status_code == 200


def test_only_the_legal_team_holds_a_lawyer_shift(w: World, lucia: Member) -> None:
    organizer = Membership.objects.get(committee=w.east, member=w.organizer)
    legal = Membership.objects.get(committee=w.east, member=lucia)
    assert not oncall.may_hold(organizer, Duty.LAWYER)
    assert oncall.may_hold(legal, Duty.LAWYER)


# --- opening, the lawyer, the notice ---------------------------------------------------------


def test_a_panic_trigger_opens_a_case_with_the_family_tasks_and_tells_the_lawyer_on_call(
    w: World, lucia: Member, leo: Member, smtp: SMTPPeer
) -> None:
    on_call(w, lucia)
    trigger = FakeTrigger(pk=41, member_id=w.member.pk, committee_id=w.east.pk)
    case = cases.open_from_trigger(
        trigger, [("childcare", "Tito, 6, Lincoln Elementary"), ("medication", "insulin")]
    )
    assert cases.open_from_trigger(trigger, []) == case  # once per trigger
    assert (case.source, case.lawyer, case.consent) == ("panic", lucia, True)
    assert cases.details(case)["who"] == "Mateo"
    kinds = sorted(case.tasks.values_list("kind", flat=True))
    assert kinds == ["childcare", "lawyer", "locator", "medication"]
    assert [n.member for n in Notice.objects.all()] == [lucia]  # not Leo: she is on call
    assert notices.send_due() == 1
    [message] = smtp.to("lucia@example.org")
    body = message.get_content()
    # Spanish for Lucia; the person's name, the A-number, the tasks never go in it.
    assert "Alguien necesita ayuda" in body
    assert "Mateo" not in body and "Tito" not in body and "insulin" not in body
    link = next(word for word in body.split() if "/legal/link/" in word)
    opened = session_for(lucia).get(link.replace("http://testserver", ""))
    assert opened.status_code == 302
    assert opened["Location"] == reverse("legal_case", args=["east", case.pk])
    # The signed link is Lucia's: Leo, on the same team, has his own.
    assert session_for(leo).get(link.replace("http://testserver", "")).status_code == 404
    assert Event.Kind.NOTIFIED in set(case.events.values_list("kind", flat=True))


def test_with_no_lawyer_on_call_the_whole_legal_team_hears(
    w: World, lucia: Member, leo: Member
) -> None:
    case = call_case(w, w.organizer)
    assert case.lawyer is None
    assert sorted(n.member.display_name for n in Notice.objects.filter(case=case)) == [
        "Leo",
        "Lucia",
    ]


def test_a_cancelled_trigger_closes_the_case_as_a_mistake(w: World, lucia: Member) -> None:
    trigger = FakeTrigger(pk=7, member_id=w.member.pk, committee_id=w.east.pk)
    case = cases.open_from_trigger(trigger, [])
    cases.cancel_from_trigger(trigger)
    case.refresh_from_db()
    assert case.state == State.CLOSED and case.closed_at is not None
    assert Event.Kind.CANCELLED in set(case.events.values_list("kind", flat=True))


def test_a_dispatcher_opens_a_case_from_an_incident_and_does_not_read_it(
    w: World, lucia: Member
) -> None:
    report = receive_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1]
    )
    incident = incidents.open_incident(report, actor=w.dispatcher)
    desk = session_for(w.dispatcher, strong=True)
    form = desk.get(reverse("incident", args=[incident.pk])).text
    assert reverse("incident_case", args=[incident.pk]) in form
    answer = desk.post(
        reverse("incident_case", args=[incident.pk]), {"who": WHO, "where": "Car wash, Soto"}
    )
    assert answer.status_code == 302
    case = Case.objects.get()
    assert (case.source, case.incident, case.committee) == ("incident", incident, w.east)
    assert desk.get(reverse("legal_case", args=["east", case.pk])).status_code == 404
    # The legal team's page says which incident it came from, and where, in words.
    from tocsin.places.models import Place, PlaceKind

    Place.objects.create(
        committee=w.east, name="Soto car wash", kind=PlaceKind.CAR_WASH, lat=EAST[0], lng=EAST[1]
    )
    page = session_for(lucia).get(reverse("legal_case", args=["east", case.pk])).text
    came = page.split('data-testid="from-incident">')[1].split("</span>")[0]
    assert f"#{incident.pk}" in came and "Soto car wash" in came
    assert (
        session_for(w.west_dispatcher, strong=True)
        .post(reverse("incident_case", args=[incident.pk]), {"who": WHO})
        .status_code
        == 404
    )


def test_without_the_legal_key_the_desk_says_so_instead_of_failing(
    w: World, tmp_path: Path, settings: Settings
) -> None:
    settings.DATA_DIR = tmp_path  # no legal key here, nor in the settings
    settings.LEGAL_PUBLIC_KEY = settings.LEGAL_PRIVATE_KEY = ""
    report = receive_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1]
    )
    incident = incidents.open_incident(report, actor=w.dispatcher)
    desk = session_for(w.dispatcher, strong=True)
    page = desk.get(reverse("incident", args=[incident.pk])).text
    assert reverse("incident_case", args=[incident.pk]) not in page
    assert "Legal cases are not set up on this server" in page
    # A form sent from a page opened before: refused in words, nothing stored, no error page.
    answer = desk.post(reverse("incident_case", args=[incident.pk]), {"who": WHO}, follow=True)
    assert answer.status_code == 200
    assert "Legal cases are not set up on this server" in answer.text
    assert not Case.objects.exists()


def test_the_legal_team_opens_a_case_from_a_call(w: World, lucia: Member) -> None:
    client = session_for(lucia)
    answer = client.post(
        reverse("legal_case_new", args=["east"]),
        {"who": WHO, "a_number": A_NUMBER, "consent": "on"},
    )
    case = Case.objects.get()
    assert answer["Location"] == reverse("legal_case", args=["east", case.pk])
    assert case.consent and case.consent_at is not None and case.source == "call"


def test_an_open_case_is_called_open_in_spanish_not_the_verb(w: World, lucia: Member) -> None:
    case = call_case(w, lucia)
    page = session_for(lucia).get(reverse("legal_case", args=["east", case.pk])).text
    assert "<strong>Abierto</strong>" in page  # Lucia reads Spanish; "Abrir" is the verb
    assert "<strong>Abrir</strong>" not in page


def test_a_case_refused_for_a_blank_who_keeps_everything_typed(w: World, lucia: Member) -> None:
    client = session_for(lucia)
    response = client.post(
        reverse("legal_case_new", args=["east"]),
        {"who": "   ", "where": "Trasladado a Otay Mesa", "notes": "Llamar a la hermana"},
    )
    assert response.status_code == 400
    page = response.text
    assert 'value="Trasladado a Otay Mesa"' in page and "Llamar a la hermana" in page
    assert 'role="alert"' in page
    assert not Case.objects.exists()
    # Browsers refuse it before sending, on the desk's form too.
    assert 'pattern=".*\\S.*"' in session_for(lucia).get(reverse("legal_cases", args=["east"])).text


def test_an_edit_that_cannot_be_saved_says_why_and_keeps_what_was_typed(
    w: World, lucia: Member
) -> None:
    case = call_case(w, lucia)
    client = session_for(lucia)
    response = client.post(
        reverse("legal_case_edit", args=["east", case.pk]),
        {"who": "  ", "where": "Trasladado a Otay Mesa"},
    )
    assert response.status_code == 400
    page = response.text
    assert 'value="Trasladado a Otay Mesa"' in page and 'role="alert"' in page
    assert "<details open>" in page
    assert cases.details(Case.objects.get(pk=case.pk))["who"] == WHO  # nothing changed


def test_long_notes_are_kept_whole(w: World, lucia: Member) -> None:
    notes = "Tiene cita en corte el martes. " * 40  # about 1,200 characters
    session_for(lucia).post(reverse("legal_case_new", args=["east"]), {"who": WHO, "notes": notes})
    assert cases.details(Case.objects.get())["notes"] == notes.strip()


# --- tasks, states, timeline -----------------------------------------------------------------


def test_the_locator_check_comes_back_until_the_person_is_found(w: World, lucia: Member) -> None:
    case = call_case(w, lucia)
    client = session_for(lucia)
    page = client.get(reverse("legal_case", args=["east", case.pk]))
    assert cases.LOCATOR_URL in page.text
    first = case.tasks.get(kind=TaskKind.LOCATOR)
    client.post(reverse("legal_task_done", args=["east", case.pk, first.pk]), {"found": "0"})
    again = case.tasks.get(kind=TaskKind.LOCATOR, done_at__isnull=True)
    assert again.pk != first.pk and again.due_at > timezone.now() + 3 * H
    case.refresh_from_db()
    assert case.state == State.OPEN
    client.post(reverse("legal_task_done", args=["east", case.pk, again.pk]), {"found": "1"})
    case.refresh_from_db()
    assert case.state == State.LOCATED
    assert not case.tasks.filter(kind=TaskKind.LOCATOR, done_at__isnull=True).exists()


def test_overdue_tasks_come_back_on_the_legal_desk(w: World, lucia: Member) -> None:
    case = call_case(w, lucia)
    Task.objects.filter(case=case, kind=TaskKind.LAWYER).update(due_at=timezone.now() - H)
    overdue = case.tasks.get(kind=TaskKind.LAWYER)
    page = session_for(lucia).get(reverse("legal_cases", args=["east"]))
    assert f'data-overdue="{overdue.pk}"' in page.text
    Task.objects.filter(pk=overdue.pk).update(done_at=timezone.now())
    page = session_for(lucia).get(reverse("legal_cases", args=["east"]))
    assert f'data-overdue="{overdue.pk}"' not in page.text


def test_overdue_legal_tasks_come_back_to_the_dispatchers_desk_without_the_cases_details(
    w: World, lucia: Member
) -> None:
    case = call_case(w, lucia)
    Task.objects.filter(case=case, kind=TaskKind.LAWYER).update(due_at=timezone.now() - H)
    overdue = case.tasks.get(kind=TaskKind.LAWYER)
    desk = session_for(w.dispatcher, strong=True).get(reverse("desk"))
    assert desk.status_code == 200
    assert f'data-overdue="{overdue.pk}"' in desk.text
    assert case.ref in desk.text
    # The sealed details stay with the legal team.
    assert WHO not in desk.text
    assert A_NUMBER not in desk.text
    # Another committee's dispatcher never sees it.
    west = session_for(w.west_dispatcher, strong=True).get(reverse("desk"))
    assert f'data-overdue="{overdue.pk}"' not in west.text
    # Done, it leaves the desk.
    Task.objects.filter(pk=overdue.pk).update(done_at=timezone.now())
    desk = session_for(w.dispatcher, strong=True).get(reverse("desk"))
    assert f'data-overdue="{overdue.pk}"' not in desk.text


def test_a_court_date_becomes_a_members_only_accompaniment(w: World, lucia: Member) -> None:
    case = call_case(w, lucia)
    court = timezone.now() + 48 * H
    task = cases.add_task(case, TaskKind.COURT, by=lucia, text="Judge room 5", due_at=court)
    session_for(lucia).post(
        reverse("legal_task_mobilize", args=["east", case.pk, task.pk]),
        {"where": "Federal building steps"},
    )
    m = Mobilization.objects.get()
    assert (m.kind, m.visibility, m.committee) == (
        MobilizationKind.ACCOMPANIMENT,
        Visibility.MEMBERS,
        w.east,
    )
    assert m.starts_at < court < m.ends_at
    # Nothing of the case goes into it.
    assert WHO not in f"{m.title} {m.description} {m.address}"
    assert "Judge" not in f"{m.title} {m.description} {m.address}"


def test_an_accompaniment_needs_a_place_to_meet(w: World, lucia: Member) -> None:
    case = call_case(w, lucia)
    task = cases.add_task(case, TaskKind.COURT, by=lucia, text="", due_at=timezone.now() + 48 * H)
    response = session_for(lucia).post(
        reverse("legal_task_mobilize", args=["east", case.pk, task.pk]),
        {"where": "  "},
        follow=True,
    )
    assert not Mobilization.objects.exists()
    assert "Diga dónde se reúnen" in response.text  # Lucia reads Spanish


def test_the_case_moves_through_its_states_to_closed_on_the_timeline(
    w: World, lucia: Member
) -> None:
    case = call_case(w, lucia)
    client = session_for(lucia)
    for state in ("located", "represented", "bond", "released", "closed"):
        client.post(reverse("legal_case_state", args=["east", case.pk]), {"state": state})
    case.refresh_from_db()
    assert case.state == State.CLOSED and case.closed_at is not None
    states = list(case.events.filter(kind=Event.Kind.STATE).values_list("value", flat=True))
    assert states == ["located", "represented", "bond", "released", "closed"]
    page = client.get(reverse("legal_case", args=["east", case.pk]))
    assert page.text.count('data-event="state"') == 5


# --- export and retention --------------------------------------------------------------------


def test_an_export_needs_a_second_member_of_the_legal_team(
    w: World, lucia: Member, leo: Member
) -> None:
    case = call_case(w, lucia)
    url = reverse("legal_export", args=["east", case.pk])
    lucia_client, leo_client = session_for(lucia), session_for(leo)
    lucia_client.post(reverse("legal_export_ask", args=["east", case.pk]))
    assert lucia_client.get(url).status_code == 404
    # She cannot approve her own; an organizer cannot either (and never sees it waiting).
    assert (
        lucia_client.post(reverse("legal_export_approve", args=["east", case.pk])).status_code
        == 404
    )
    assert (
        session_for(w.organizer, strong=True)
        .post(reverse("legal_export_approve", args=["east", case.pk]))
        .status_code
        == 404
    )
    leo_client.post(reverse("legal_export_approve", args=["east", case.pk]))
    assert leo_client.get(url).status_code == 404  # only the one who asked downloads it
    download = lucia_client.get(url)
    assert download.status_code == 200
    assert json.loads(download.content)["details"]["a_number"] == A_NUMBER


def test_a_closed_case_is_purged_after_the_retention_period_unless_kept(
    w: World, lucia: Member, settings: Settings
) -> None:
    settings.RETAIN_CASES_DAYS = 30
    gone, kept, still_open = call_case(w, lucia), call_case(w, lucia), call_case(w, lucia)
    for case in (gone, kept):
        cases.set_state(case, State.CLOSED, by=lucia)
    Case.objects.filter(pk=kept.pk).update(keep=True)
    later = timezone.now() + timedelta(days=31)
    assert purge(later)["legal_cases"] == 1
    assert set(Case.objects.values_list("pk", flat=True)) == {kept.pk, still_open.pk}
    assert not Task.objects.filter(case_id=gone.pk).exists()
    assert purge(timezone.now() + timedelta(days=29))["legal_cases"] == 0


def test_the_legal_pages_speak_spanish(w: World, lucia: Member) -> None:
    case = call_case(w, lucia)
    page = session_for(lucia).get(
        reverse("legal_case", args=["east", case.pk]), HTTP_ACCEPT_LANGUAGE="es"
    )
    assert "Tareas" in page.text and "Cronología" in page.text


def test_the_private_key_can_live_in_the_data_folder_wrapped_with_a_passphrase(
    tmp_path: Path, settings: Settings, w: World, lucia: Member
) -> None:
    from django.core.management import call_command

    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.LEGAL_PUBLIC_KEY = settings.LEGAL_PRIVATE_KEY = ""
    secret = tmp_path / "elsewhere" / "legal-passphrase"
    secret.parent.mkdir()
    secret.write_text("the legal team's long passphrase\n")
    call_command("legal_keys", passphrase_file=str(secret), stdout=io.StringIO())
    case = call_case(w, lucia)
    # Without the passphrase: sealed, though the wrapped key sits in the data folder.
    assert keys.keyring_file().exists()
    with pytest.raises(keys.LegalKeyMissing):
        cases.details(case)
    settings.LEGAL_PASSPHRASE_FILE = str(secret)
    assert cases.details(case)["a_number"] == A_NUMBER
    # A wrong passphrase opens nothing.
    wrong = tmp_path / "elsewhere" / "wrong"
    wrong.write_text("not the passphrase at all\n")
    settings.LEGAL_PASSPHRASE_FILE = str(wrong)
    with pytest.raises(keys.LegalKeyMissing):
        cases.details(case)


def test_the_desk_cannot_decide_a_case_export_by_its_id(w: World, lucia: Member) -> None:
    case = call_case(w, lucia)
    approval = cases.ask_export(case, by=lucia)
    for decision in ("approve", "decline"):
        answer = session_for(w.dispatcher, strong=True).post(
            reverse("approval_decide", args=[approval.pk]), {"decision": decision}
        )
        assert answer.status_code == 404
    approval.refresh_from_db()
    assert approval.status == Approval.Status.WAITING


def test_the_operator_is_told_when_panic_presses_would_open_no_case(
    tmp_path: Path, settings: Settings
) -> None:
    from django.core import checks

    settings.DATA_DIR = tmp_path
    settings.LEGAL_PUBLIC_KEY = settings.LEGAL_PRIVATE_KEY = ""
    [info] = [m for m in checks.run_checks() if m.id == "legal.I001"]
    assert "tocsin manage legal_keys" in str(info.hint)
    settings.LEGAL_PUBLIC_KEY = os.environ["TOCSIN_LEGAL_PUBLIC_KEY"]  # tests/settings.py's
    assert not [m for m in checks.run_checks() if m.id == "legal.I001"]


def test_a_panic_without_the_legal_key_says_why_no_case_opened(
    w: World, tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from tocsin.family.models import Trigger
    from tocsin.legal import receivers

    settings.DATA_DIR = tmp_path
    settings.LEGAL_PUBLIC_KEY = settings.LEGAL_PRIVATE_KEY = ""
    trigger = Trigger.objects.create(member=w.member, committee=w.east, kind=Trigger.Kind.BUTTON)
    with caplog.at_level("WARNING", logger="tocsin.legal.receivers"):
        receivers.on_trigger(sender=Trigger, trigger=trigger)
    assert not Case.objects.exists()
    assert "no legal case opened" in caplog.text
    assert "tocsin manage legal_keys" in caplog.text
