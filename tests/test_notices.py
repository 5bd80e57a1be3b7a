"""Messages to one person (tocsin.alerts.notices): how every kind's due messages are sent
and what each outcome leaves on the row, through the real email transport to a local SMTP
server. The kinds themselves (RSVP messages, shift and legal notices, the digest) are
tested with their features; these rows are on-call shift notices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import World, world
from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin import vault
from tocsin.alerts import notices
from tocsin.alerts.outbox import limiter, reset_pacing
from tocsin.committees.models import Duty, Shift
from tocsin.mobilize import shift_notices
from tocsin.mobilize.oncall import ShiftNotice
from tocsin.transports.base import Message

pytestmark = pytest.mark.django_db

Status = ShiftNotice.Status


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        reset_pacing()
        yield peer
    reset_pacing()


@pytest.fixture
def w() -> World:
    return world()


def notice(w: World) -> ShiftNotice:
    start = timezone.now() + timedelta(hours=2)
    shift = Shift.objects.create(
        committee=w.east,
        member=w.dispatcher,
        duty=Duty.RESPONDER,
        starts_at=start,
        ends_at=start + timedelta(hours=4),
    )
    return ShiftNotice.objects.create(
        shift=shift, member=w.dispatcher, purpose=ShiftNotice.Purpose.REMINDER
    )


def kind(**changes: Any) -> notices.Kind[ShiftNotice]:
    """The shift notices' own kind, with ``changes``."""
    return notices.Kind[ShiftNotice](**{**shift_notices.KIND.__dict__, **changes})


def send(k: notices.Kind[ShiftNotice] | None = None, **when: Any) -> int:
    rows = ShiftNotice.objects.select_related("shift__committee", "member")
    return notices.send_due(rows, k or shift_notices.KIND, **when)


def row(n: ShiftNotice) -> ShiftNotice:
    n.refresh_from_db()
    return n


def test_a_due_message_is_sent_once_and_marked_sent(w: World, smtp: SMTPPeer) -> None:
    n = notice(w)
    assert send() == 1
    assert send() == 0
    assert len(smtp.to("diego@example.org")) == 1
    sent = row(n)
    assert (sent.status, sent.attempts, sent.error) == (Status.SENT, 1, "")
    assert sent.sent_at is not None


def test_the_transport_gets_a_key_of_the_kind_and_row(w: World, smtp: SMTPPeer) -> None:
    n = notice(w)
    send()
    [email] = smtp.to("diego@example.org")
    assert email["Message-ID"].startswith(f"<shift-notice-{n.pk}@")


def test_a_refused_address_is_given_up_at_once(w: World, smtp: SMTPPeer) -> None:
    smtp.refuse("diego@example.org")
    n = notice(w)
    assert send() == 0
    assert row(n).status == Status.DEAD
    assert "550" in row(n).error


def test_a_server_that_says_not_now_is_tried_again_later(w: World, smtp: SMTPPeer) -> None:
    smtp.refuse("diego@example.org", "450 4.2.1 Mailbox busy, try later")
    n = notice(w)
    before = timezone.now()
    assert send() == 0
    failed = row(n)
    assert (failed.status, failed.attempts) == (Status.FAILED, 1)
    assert failed.next_attempt_at > before
    # Not due until its backoff ends; then it goes.
    assert send() == 0
    smtp.handler.refused.clear()
    assert send(now=failed.next_attempt_at) == 1
    assert row(n).status == Status.SENT


def test_the_last_attempt_that_fails_gives_it_up(w: World, smtp: SMTPPeer) -> None:
    smtp.refuse("diego@example.org", "450 4.2.1 Mailbox busy, try later")
    n = notice(w)
    ShiftNotice.objects.filter(pk=n.pk).update(attempts=notices.MAX_ATTEMPTS - 1)
    send()
    assert (row(n).status, row(n).attempts) == (Status.DEAD, notices.MAX_ATTEMPTS)


def test_a_person_with_no_channel_is_given_up(w: World, smtp: SMTPPeer) -> None:
    n = notice(w)
    w.dispatcher.endpoints.all().delete()
    assert send() == 0
    assert (row(n).status, row(n).error) == (Status.DEAD, "no channel to send on")


def test_a_message_no_longer_needed_is_cancelled_not_sent(w: World, smtp: SMTPPeer) -> None:
    n = notice(w)
    assert send(kind(stale=lambda notice, now: True)) == 0
    assert row(n).status == Status.CANCELLED
    assert smtp.messages == []


def test_a_message_with_nothing_left_to_say_is_cancelled(w: World, smtp: SMTPPeer) -> None:
    n = notice(w)
    assert send(kind(render=lambda notice, channel: None)) == 0
    assert row(n).status == Status.CANCELLED
    assert smtp.messages == []


def test_a_vault_locked_since_the_check_leaves_it_waiting_uncounted(
    w: World, smtp: SMTPPeer
) -> None:
    def locked(notice: ShiftNotice) -> notices.Channel:
        raise vault.VaultLocked()

    n = notice(w)
    assert send(kind(channel=locked)) == 0
    waiting = row(n)
    assert (waiting.status, waiting.attempts) == (Status.QUEUED, 0)
    assert send() == 1


def test_a_paused_channel_puts_it_back_uncounted(w: World, smtp: SMTPPeer) -> None:
    n = notice(w)
    limiter("email").pause(30)
    before = timezone.now()
    assert send() == 0
    waiting = row(n)
    assert (waiting.status, waiting.attempts) == (Status.QUEUED, 0)
    assert waiting.next_attempt_at >= before + timedelta(seconds=20)
    assert smtp.messages == []


def test_a_broken_row_is_given_up_not_retried_forever(w: World, smtp: SMTPPeer) -> None:
    def broken(notice: ShiftNotice, channel: str) -> Message:
        raise ValueError("a sealed row that does not open")

    n = notice(w)
    assert send(kind(render=broken)) == 0
    assert (row(n).status, row(n).error) == (Status.DEAD, "internal error: ValueError")


def test_a_sent_message_runs_its_kinds_follow_up_once(w: World, smtp: SMTPPeer) -> None:
    done: list[int] = []
    n = notice(w)
    send(kind(sent=lambda notice: done.append(notice.pk)))
    send(kind(sent=lambda notice: done.append(notice.pk)))
    assert done == [n.pk]


def test_the_longest_waiting_go_first_up_to_the_limit(w: World, smtp: SMTPPeer) -> None:
    first, second, third = notice(w), notice(w), notice(w)
    ShiftNotice.objects.filter(pk=third.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    assert send(limit=2) == 2
    assert [row(n).status for n in (first, second, third)] == [
        Status.SENT,
        Status.QUEUED,
        Status.SENT,
    ]


def test_a_locked_vault_sends_nothing(w: World, smtp: SMTPPeer, monkeypatch: Any) -> None:
    n = notice(w)
    monkeypatch.setattr(notices.locking, "check", lambda: False)
    assert send() == 0
    assert (row(n).status, row(n).attempts) == (Status.QUEUED, 0)
