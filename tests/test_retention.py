"""Retention: each class of data is purged at its age and kept a moment before it.

The rules are pure (tocsin.vault.retention); the purge (tocsin.retention.purge) applies them
to the database, deletes photo files with their rows and reclaims the space, so a copy of
the database file taken afterwards holds none of the purged text.
"""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from hypothesis import given
from hypothesis import strategies as st

from tests import disk
from tests.factories import EAST, World, world
from tocsin import geo, vault
from tocsin.alerts.models import Alert, Certainty, Delivery, MsgType, Purpose
from tocsin.committees.models import CommitteeRequest, JoinRequest, Shift
from tocsin.demo.models import DemoMessage
from tocsin.family import panic
from tocsin.family.models import Trigger
from tocsin.federation.models import Partner, Received
from tocsin.incidents.models import Answer, Incident, State, VerificationRequest
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, Report, ReportKind, ReportPhoto
from tocsin.intake.photos import Scrubbed
from tocsin.legal import cases as legal_cases
from tocsin.legal.models import Case, InterpreterCall
from tocsin.members.models import LoginCode
from tocsin.mobilize import rsvps
from tocsin.mobilize.models import Mobilization, ResponderRole, Response, RsvpMessage
from tocsin.retention.purge import purge
from tocsin.transports.models import CommitteeChannel, CommitteePost
from tocsin.vault import retention
from tocsin.worker import Worker

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TICK = timedelta(seconds=1)

DEFAULTS = SimpleNamespace(
    RETAIN_REPORTS_HOURS=72,
    RETAIN_UNATTACHED_REPORTS_HOURS=72,
    RETAIN_DELIVERIES_DAYS=7,
    RETAIN_RESPONSES_DAYS=30,
    RETAIN_LOGIN_CODES_HOURS=0,
    RETAIN_TASK_RESULTS_DAYS=1,
    RETAIN_DEMO_MESSAGES_DAYS=7,
    RETAIN_SOURCE_TAGS_HOURS=48,
    RETAIN_RSVPS_DAYS=7,
    RETAIN_CASES_DAYS=30,
    RETAIN_PANIC_DAYS=30,
)


# --- the pure rules ---------------------------------------------------------------------


def test_it_takes_each_period_from_its_setting() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    cut = retention.cutoffs(now, DEFAULTS)
    assert cut[retention.REPORTS] == now - 72 * HOUR
    assert cut[retention.UNATTACHED_REPORTS] == now - 72 * HOUR
    assert cut[retention.INCIDENT_SUMMARIES] == cut[retention.REPORTS]
    assert cut[retention.DELIVERIES] == now - 7 * DAY
    assert cut[retention.RESPONSES] == now - 30 * DAY
    assert cut[retention.LOGIN_CODES] == now
    assert cut[retention.SESSIONS] == now
    assert cut[retention.TASK_RESULTS] == now - DAY
    assert cut[retention.DEMO_MESSAGES] == now - 7 * DAY
    assert cut[retention.VERIFIER_NOTES] == cut[retention.REPORTS]
    assert cut[retention.COMMITTEE_POSTS] == cut[retention.DELIVERIES]
    assert cut[retention.SHIFTS] == cut[retention.RESPONSES]
    assert cut[retention.SOURCE_TAGS] == now - 48 * HOUR
    assert cut[retention.RSVPS] == now - 7 * DAY
    assert cut[retention.PANIC_TRIGGERS] == now - 30 * DAY


def test_it_follows_changed_settings() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    config = SimpleNamespace(**{**vars(DEFAULTS), "RETAIN_REPORTS_HOURS": 6})
    assert retention.cutoffs(now, config)[retention.REPORTS] == now - 6 * HOUR


def test_it_has_a_rule_or_a_reason_for_every_class() -> None:
    assert set(retention.CLASSES) - set(retention.RULES) == {retention.REPORT_PHOTOS}


def test_it_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError):
        retention.cutoffs(datetime(2026, 3, 1), DEFAULTS)  # noqa: DTZ001


def test_it_refuses_a_negative_period() -> None:
    config = SimpleNamespace(**{**vars(DEFAULTS), "RETAIN_DELIVERIES_DAYS": -1})
    with pytest.raises(ValueError):
        retention.cutoffs(timezone.now(), config)


def test_a_clock_that_has_not_started_is_never_due() -> None:
    assert not retention.is_due(None, timezone.now())


@given(hours=st.integers(0, 24 * 365), age_seconds=st.integers(0, 400 * 86400))
def test_a_row_is_due_exactly_when_its_age_reaches_the_period(hours: int, age_seconds: int) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    config = SimpleNamespace(**{**vars(DEFAULTS), "RETAIN_REPORTS_HOURS": hours})
    clock = now - timedelta(seconds=age_seconds)
    due = retention.is_due(clock, retention.cutoffs(now, config)[retention.REPORTS])
    assert due == (age_seconds >= hours * 3600)


# --- the purge --------------------------------------------------------------------------

NOW = timezone.now()


def report(text: str = "", *, received_at: datetime | None = None, **fields: Any) -> Report:
    r = receive_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1], text=text
    )
    Report.objects.filter(pk=r.pk).update(received_at=received_at or NOW - 100 * DAY, **fields)
    r.refresh_from_db()
    return r


def incident(
    closed_at: datetime | None,
    *,
    state: str = State.RESOLVED,
    summary: str = "",
    evidence: bool = False,
) -> Incident:
    """Return an incident closed at ``closed_at`` (or open, if None), with one report."""
    r = report()
    i = Incident.objects.create(
        kind=r.kind,
        state=state if closed_at else State.CONFIRMED,
        cell=r.cell,
        area_cell=r.area_cell,
        summary=summary,
        closed_at=closed_at,
        keep_as_evidence=evidence,
    )
    Report.objects.filter(pk=r.pk).update(incident=i)
    return i


def alert(i: Incident, sent_at: datetime) -> Alert:
    return Alert.objects.create(
        incident=i,
        msg_type=MsgType.ALERT,
        purpose=Purpose.CONFIRMED,
        certainty=Certainty.OBSERVED,
        cell=i.cell,
        ring=2,
        sent_at=sent_at,
        expires_at=sent_at + DAY,
        targeted=3,
    )


def deliver(a: Alert, w: World) -> Delivery:
    return Delivery.objects.create(alert=a, member=w.member, endpoint=w.member.endpoints.get())


def task_result(finished_at: datetime | None, status: str = "SUCCESSFUL") -> DBTaskResult:
    return DBTaskResult.objects.create(
        status=status,
        finished_at=finished_at,
        args_kwargs={"args": [], "kwargs": {}},
        task_path="tocsin.alerts.tasks.deliver_outbox",
        backend_name="default",
        run_after=NOW - 10 * DAY,
        exception_class_path="",
        traceback="",
    )


def exists(obj: Any) -> bool:
    return type(obj).objects.filter(pk=obj.pk).exists()


def test_it_purges_the_reports_of_an_incident_closed_72_hours_ago(w: World) -> None:
    old = incident(NOW - 72 * HOUR)
    young = incident(NOW - 72 * HOUR + TICK)
    false_alarm = incident(NOW - 72 * HOUR, state=State.UNFOUNDED)
    counts = purge(NOW)
    assert not old.reports.exists()
    assert not false_alarm.reports.exists()
    assert young.reports.count() == 1
    assert counts[retention.REPORTS] == 2


def test_it_keeps_the_reports_of_an_open_incident(w: World) -> None:
    open_incident = incident(None)
    purge(NOW + 1000 * DAY)
    assert open_incident.reports.count() == 1


def test_it_keeps_an_incident_kept_as_evidence(w: World) -> None:
    kept = incident(NOW - 365 * DAY, summary="Three vans on 5th St", evidence=True)
    counts = purge(NOW)
    kept.refresh_from_db()
    assert kept.reports.count() == 1
    assert kept.summary == "Three vans on 5th St"
    assert counts[retention.REPORTS] == counts[retention.INCIDENT_SUMMARIES] == 0


def test_it_purges_reports_never_attached_72_hours_after_they_arrive(w: World) -> None:
    left = report("left", received_at=NOW - 72 * HOUR)
    dismissed = report("dismissed", received_at=NOW - 72 * HOUR, dismissed=True)
    young = report("young", received_at=NOW - 72 * HOUR + TICK)
    counts = purge(NOW)
    assert not exists(left)
    assert not exists(dismissed)
    assert exists(young)
    assert counts[retention.UNATTACHED_REPORTS] == 2


def test_it_blanks_the_summary_of_a_closed_incident_but_keeps_the_incident(w: World) -> None:
    old = incident(NOW - 72 * HOUR, summary="Checkpoint at the market")
    young = incident(NOW - 72 * HOUR + TICK, summary="Agents at the school")
    counts = purge(NOW)
    old.refresh_from_db()
    young.refresh_from_db()
    assert old.summary == ""
    assert old.state == State.RESOLVED
    assert young.summary == "Agents at the school"
    assert counts[retention.INCIDENT_SUMMARIES] == 1


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def photo(r: Report) -> ReportPhoto:
    return ReportPhoto.store(r, Scrubbed(data=b"\xff\xd8scrubbed jpeg\xff\xd9", width=1, height=1))


def test_it_deletes_photos_and_their_files_with_their_report(
    w: World, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    old = photo(report(received_at=NOW - 72 * HOUR))
    young = photo(report(received_at=NOW - 72 * HOUR + TICK))
    closed = incident(NOW - 72 * HOUR)
    closed_photo = photo(closed.reports.get())
    with django_capture_on_commit_callbacks(execute=True):
        counts = purge(NOW)
    assert not exists(old)
    assert not exists(closed_photo)
    assert not (media / old.file.name).exists()
    assert not (media / closed_photo.file.name).exists()
    assert exists(young)
    assert (media / young.file.name).exists()
    assert counts[retention.REPORT_PHOTOS] == 2


def test_it_purges_deliveries_7_days_after_their_alert(w: World) -> None:
    i = incident(None)
    old = deliver(alert(i, NOW - 7 * DAY), w)
    young = deliver(alert(i, NOW - 7 * DAY + TICK), w)
    counts = purge(NOW)
    assert not exists(old)
    assert exists(young)
    assert counts[retention.DELIVERIES] == 1


def test_it_keeps_the_alert_and_its_count_when_deliveries_go(w: World) -> None:
    a = alert(incident(None), NOW - 30 * DAY)
    deliver(a, w)
    purge(NOW)
    a.refresh_from_db()
    assert a.targeted == 3
    assert not a.deliveries.exists()


def test_it_purges_responses_30_days_after_the_incident_closes(w: World) -> None:
    def respond(i: Incident) -> Response:
        return Response.objects.create(incident=i, member=w.responder, role=ResponderRole.OBSERVER)

    old = respond(incident(NOW - 30 * DAY))
    young = respond(incident(NOW - 30 * DAY + TICK))
    still_open = respond(incident(None))
    counts = purge(NOW)
    assert not exists(old)
    assert exists(young)
    assert exists(still_open)
    assert counts[retention.RESPONSES] == 1


def test_it_purges_login_codes_once_expired(w: World) -> None:
    def code(expires_at: datetime) -> LoginCode:
        return LoginCode.objects.create(member=w.member, code_hash="x" * 64, expires_at=expires_at)

    expired = code(NOW)
    valid = code(NOW + TICK)
    counts = purge(NOW)
    assert not exists(expired)
    assert exists(valid)
    assert counts[retention.LOGIN_CODES] == 1


def test_it_purges_sessions_once_expired(w: World) -> None:
    expired = Session.objects.create(session_key="a" * 32, session_data="", expire_date=NOW)
    valid = Session.objects.create(session_key="b" * 32, session_data="", expire_date=NOW + TICK)
    counts = purge(NOW)
    assert not exists(expired)
    assert exists(valid)
    assert counts[retention.SESSIONS] == 1


def test_it_purges_finished_task_results_after_a_day(w: World) -> None:
    done = task_result(NOW - DAY)
    failed = task_result(NOW - DAY, status="FAILED")
    young = task_result(NOW - DAY + TICK)
    waiting = task_result(None, status="READY")
    counts = purge(NOW)
    assert not exists(done)
    assert not exists(failed)
    assert exists(young)
    assert exists(waiting)
    assert counts[retention.TASK_RESULTS] == 2


def test_it_purges_demo_messages_after_7_days(w: World) -> None:
    def message(created_at: datetime) -> DemoMessage:
        return DemoMessage.objects.create(
            member=w.member, channel="email", subject="s", body="b", created_at=created_at
        )

    old = message(NOW - 7 * DAY)
    young = message(NOW - 7 * DAY + TICK)
    counts = purge(NOW)
    assert not exists(old)
    assert exists(young)
    assert counts[retention.DEMO_MESSAGES] == 1


def verification(i: Incident, w: World, **notes: str) -> VerificationRequest:
    return VerificationRequest.objects.create(
        incident=i, verifier=w.dispatcher, answer=Answer.CONFIRMED, agency="ice", **notes
    )


def test_it_blanks_a_verifiers_notes_with_the_reports_and_keeps_the_answer(w: World) -> None:
    old = verification(incident(NOW - 72 * HOUR), w, vehicles="two vans", details="at the door")
    young = verification(incident(NOW - 72 * HOUR + TICK), w, details="at the gate")
    kept = verification(incident(NOW - 100 * DAY, evidence=True), w, details="evidence")
    counts = purge(NOW)
    old.refresh_from_db()
    assert (old.vehicles, old.details, old.answer, old.agency) == ("", "", "confirmed", "ice")
    assert VerificationRequest.objects.get(pk=young.pk).details == "at the gate"
    assert VerificationRequest.objects.get(pk=kept.pk).details == "evidence"
    assert counts[retention.VERIFIER_NOTES] == 1


def test_it_purges_committee_posts_with_the_deliveries(w: World) -> None:
    channel = CommitteeChannel.objects.create(
        committee=w.east, label="Room", service="JSON", scheme="json", sealed=b"x"
    )
    i = incident(NOW - 100 * DAY)
    old = CommitteePost.objects.create(alert=alert(i, NOW - 7 * DAY), channel=channel)
    young = CommitteePost.objects.create(alert=alert(i, NOW - 7 * DAY + TICK), channel=channel)
    counts = purge(NOW)
    assert not exists(old)
    assert exists(young)
    assert counts[retention.COMMITTEE_POSTS] == 1


def test_it_purges_a_shift_30_days_after_it_ends(w: World) -> None:
    def shift(ends_at: datetime) -> Shift:
        return Shift.objects.create(
            committee=w.east, member=w.dispatcher, starts_at=ends_at - HOUR, ends_at=ends_at
        )

    old = shift(NOW - 30 * DAY)
    young = shift(NOW - 30 * DAY + TICK)
    counts = purge(NOW)
    assert not exists(old)
    assert exists(young)
    assert counts[retention.SHIFTS] == 1


def _mobilization(w: World, ends_at: datetime) -> Mobilization:
    return Mobilization.objects.create(
        committee=w.east,
        kind="vigil",
        title="Vigil",
        address="Plaza",
        starts_at=ends_at - 2 * HOUR,
        ends_at=ends_at,
    )


def test_it_purges_rsvps_and_their_messages_7_days_after_the_mobilization_ends(w: World) -> None:
    old = _mobilization(w, NOW - 7 * DAY)
    young = _mobilization(w, NOW - 7 * DAY + TICK)
    contact = rsvps.Contact("email", "ana@example.org")
    gone = rsvps.sign_up(old, contact=contact, now=old.starts_at - DAY)
    kept = rsvps.sign_up(young, contact=contact, now=young.starts_at - DAY)
    counts = purge(NOW)
    assert not exists(gone)
    assert not RsvpMessage.objects.filter(rsvp_id=gone.pk).exists()
    assert exists(kept)
    assert exists(old)  # the mobilization itself stays, as public history
    assert counts[retention.RSVPS] == 1


def _join_request(w: World, *, expires_at: datetime, address: str = "ana@example.org") -> Any:
    return JoinRequest.objects.create(
        committee=w.east,
        display_name="Ana",
        kind="email",
        sealed=vault.seal({"address": address}),
        blind_index=address,
        expires_at=expires_at,
    )


def _committee_request(*, expires_at: datetime, address: str = "ana@example.org") -> Any:
    return CommitteeRequest.objects.create(
        name="Harbor",
        kind="workplace",
        cell=geo.cell_at(34.05, -118.2, geo.PUBLIC_RESOLUTION),
        area_name="Los Angeles, CA",
        display_name="Ana",
        channel="email",
        sealed=vault.seal({"address": address}),
        blind_index=address,
        expires_at=expires_at,
    )


def test_it_purges_requests_to_join_and_to_start_a_committee_once_expired(w: World) -> None:
    gone = _join_request(w, expires_at=NOW)
    kept = _join_request(w, expires_at=NOW + TICK, address="bea@example.org")
    start_gone = _committee_request(expires_at=NOW)
    start_kept = _committee_request(expires_at=NOW + TICK, address="bea@example.org")
    counts = purge(NOW)
    assert not exists(gone) and not exists(start_gone)
    assert exists(kept) and exists(start_kept)
    assert counts[retention.JOIN_REQUESTS] == counts[retention.COMMITTEE_REQUESTS] == 1


def test_it_blanks_a_reports_source_tag_48_hours_after_it_arrived(w: World) -> None:
    open_ = incident(None)
    old = report("old", received_at=NOW - 48 * HOUR, source_tag="a" * 32, incident=open_)
    young = report("young", received_at=NOW - 48 * HOUR + TICK, source_tag="b" * 32, incident=open_)
    counts = purge(NOW)
    old.refresh_from_db()
    young.refresh_from_db()
    assert (old.source_tag, old.text) == ("", "old")
    assert young.source_tag == "b" * 32
    assert counts[retention.SOURCE_TAGS] == 1


def test_it_follows_the_settings(w: World, settings: Any) -> None:
    settings.RETAIN_REPORTS_HOURS = 1
    old = incident(NOW - HOUR)
    purge(NOW)
    assert not old.reports.exists()


def scenario(w: World) -> dict[str, int]:
    """Make one row due in every class (two reports of a closed incident); return counts."""
    closed = incident(NOW - 100 * DAY, summary="vans")
    Report.objects.create(
        channel=Channel.SMS,
        kind=ReportKind.CHECKPOINT,
        cell=closed.cell,
        area_cell=closed.area_cell,
        incident=closed,
        received_at=NOW - 101 * DAY,
    )
    photo(closed.reports.first())  # type: ignore[arg-type]
    report("left", received_at=NOW - 4 * DAY)
    deliver(alert(closed, NOW - 100 * DAY), w)
    Response.objects.create(incident=closed, member=w.responder, role=ResponderRole.OBSERVER)
    LoginCode.objects.create(member=w.member, code_hash="x", expires_at=NOW - HOUR)
    Session.objects.create(session_key="c" * 32, session_data="", expire_date=NOW - HOUR)
    task_result(NOW - 2 * DAY)
    DemoMessage.objects.create(
        member=w.member, channel="email", subject="s", body="b", created_at=NOW - 8 * DAY
    )
    verification(closed, w, details="two vans")
    channel = CommitteeChannel.objects.create(
        committee=w.east, label="Room", service="JSON", scheme="json", sealed=b"x"
    )
    CommitteePost.objects.create(alert=alert(closed, NOW - 100 * DAY), channel=channel)
    Shift.objects.create(
        committee=w.east, member=w.dispatcher, starts_at=NOW - 41 * DAY, ends_at=NOW - 40 * DAY
    )
    report("tagged", received_at=NOW - 3 * DAY, source_tag="c" * 32, incident=incident(None))
    past = _mobilization(w, NOW - 8 * DAY)
    rsvps.sign_up(past, member=w.member, now=past.starts_at - DAY)
    _join_request(w, expires_at=NOW)
    _committee_request(expires_at=NOW)
    partner = Partner.objects.create(name="Eastside", base_url="https://e.example", public_key="k")
    Received.objects.create(partner=partner, identifier="old", nonce="n1")
    Received.objects.filter(identifier="old").update(received_at=NOW - 4 * DAY)
    Received.objects.create(partner=partner, identifier="young", nonce="n2")
    _legal_cases(w)
    panic.trigger(w.member, Trigger.Kind.BUTTON, now=NOW - 31 * DAY)
    panic.trigger(w.responder, Trigger.Kind.BUTTON, now=NOW - 29 * DAY)
    return {
        retention.REPORT_PHOTOS: 1,
        retention.REPORTS: 2,
        retention.UNATTACHED_REPORTS: 1,
        retention.INCIDENT_SUMMARIES: 1,
        retention.DELIVERIES: 1,
        retention.RESPONSES: 1,
        retention.LOGIN_CODES: 1,
        retention.SESSIONS: 1,
        retention.TASK_RESULTS: 1,
        retention.DEMO_MESSAGES: 1,
        retention.VERIFIER_NOTES: 1,
        retention.COMMITTEE_POSTS: 1,
        retention.SHIFTS: 1,
        retention.SOURCE_TAGS: 1,
        retention.RSVPS: 1,
        retention.JOIN_REQUESTS: 1,
        retention.COMMITTEE_REQUESTS: 1,
        retention.PARTNER_ALERTS: 1,
        retention.LEGAL_CASES: 1,
        retention.INTERPRETER_CALLS: 1,
        retention.PANIC_TRIGGERS: 1,
    }


def _legal_cases(w: World) -> None:
    """Closed legal cases: one past TOCSIN_RETAIN_CASES_DAYS (gone), one the legal team
    keeps, one closed lately, one open; interpreter calls for incidents, old and new."""
    for closed_days, keep in ((31, False), (31, True), (29, False), (None, False)):
        case = legal_cases.open_case(w.east, source="call", details={"who": "X"})
        if closed_days is not None:
            Case.objects.filter(pk=case.pk).update(
                state="closed", closed_at=NOW - closed_days * DAY, keep=keep
            )
    for age in (31, 29):
        call = InterpreterCall.objects.create(committee=w.east, language="mam")
        InterpreterCall.objects.filter(pk=call.pk).update(asked_at=NOW - age * DAY)


def test_it_counts_what_it_purged_per_class(w: World, media: Path) -> None:
    expected = scenario(w)
    assert purge(NOW) == expected
    assert purge(NOW) == dict.fromkeys(expected, 0)


def test_a_dry_run_counts_the_same_and_deletes_nothing(w: World, media: Path) -> None:
    expected = scenario(w)
    before = Report.objects.count(), Delivery.objects.count(), Session.objects.count()
    assert purge(NOW, dry_run=True) == expected
    assert (Report.objects.count(), Delivery.objects.count(), Session.objects.count()) == before
    assert Incident.objects.filter(summary="vans").exists()
    assert purge(NOW) == expected


def test_the_command_prints_the_counts_and_has_a_dry_run(w: World, media: Path) -> None:
    scenario(w)
    out = io.StringIO()
    call_command("purge", "--dry-run", stdout=out)
    assert re.search(r"^reports +2$", out.getvalue(), re.M)
    assert "would purge" in out.getvalue()
    assert Report.objects.count() == 5
    out = io.StringIO()
    call_command("purge", stdout=out)
    assert "purged 22 in all" in out.getvalue()
    # The open incident's two reports stay (one's source tag blanked).
    assert Report.objects.count() == 2


# --- the worker and the seized file -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_worker_purges_at_start() -> None:
    world()
    old = report("left long ago", received_at=timezone.now() - 30 * DAY)
    worker = Worker(sweep_interval=60, purge_interval=3600)
    worker.start()
    try:
        for _ in range(100):
            if not exists(old):
                break
            worker.stop_event.wait(0.05)
    finally:
        worker.stop()
    assert not exists(old)


def _sqlite_bytes() -> bytes:
    path = Path(connection.settings_dict["NAME"])
    wal = path.with_name(path.name + "-wal")
    return disk.read(path) + disk.read(wal)


@pytest.mark.django_db(transaction=True)
def test_a_seized_sqlite_file_no_longer_holds_a_purged_report() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("reads the SQLite file; PostgreSQL is covered by the VACUUM test below")
    world()
    secret = f"unmarked-vans-{uuid.uuid4().hex}"
    kept = f"kept-report-{uuid.uuid4().hex}"
    closed = incident(NOW - 100 * DAY)
    Report.objects.filter(incident=closed).update(text=secret)
    report(kept, received_at=timezone.now())
    assert secret.encode() in _sqlite_bytes()
    counts = purge()
    assert counts[retention.REPORTS] == 1
    data = _sqlite_bytes()
    assert secret.encode() not in data
    assert kept.encode() in data


@pytest.mark.django_db(transaction=True)
def test_it_vacuums_the_touched_tables_on_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only; SQLite is covered by the seized-file test above")
    world()
    incident(NOW - 100 * DAY)
    purge()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = %s",
            [Report._meta.db_table],
        )
        (last_vacuum,) = cursor.fetchone()
    assert last_vacuum is not None


def test_the_default_periods_are_the_documented_ones() -> None:
    for name in vars(DEFAULTS):
        assert getattr(django_settings, name) == getattr(DEFAULTS, name), name
