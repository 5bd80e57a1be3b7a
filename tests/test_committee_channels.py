"""Committee channels (Apprise): member-facing alerts posted to a committee's room or topic.

Every post goes through the real apprise package to a local peer that speaks what
Apprise sends to a generic JSON webhook and to ntfy (tests.peers.webhook), and checks
it. The seam is only the clock: tests move a post's next attempt or lease instead of
waiting for it.
"""

from __future__ import annotations

import io
import ipaddress
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import checks
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import EAST, WEST, World, own_incident, world
from tests.peers import webhook
from tests.peers.webhook import WebhookPeer
from tests.peers.witness import Witness
from tests.peers.witness import redirect as witness_redirect
from tests.privacy_support import LogCapture, Needles
from tests.test_seized_database import (
    data_folder_image,
    database_image,
    fresh_sqlite_file,
    hits_in,
    with_signed_payloads,
)
from tocsin import vault
from tocsin.alerts import outbox, posts
from tocsin.alerts.models import Alert, DeliveryStatus, Purpose
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state
from tocsin.lib import egress
from tocsin.transports import checks as channel_checks
from tocsin.transports.models import CommitteeChannel, CommitteePost

HOME = "http://testserver/"


@pytest.fixture
def peer() -> Iterator[WebhookPeer]:
    with webhook.running(ntfy_token="tk_" + "a1b2c3d4e5" * 3) as p:
        yield p


@pytest.fixture
def w(db: None, settings: Settings) -> World:
    settings.APPRISE_ENABLED = True
    return world()


def command(*args: str, stdin: str = "") -> str:
    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command("committee_channels", *args, stdout=out, stderr=out)
    finally:
        sys.stdin = old
    return out.getvalue()


def add(slug: str, label: str, url: str, *, language: str = "en") -> CommitteeChannel:
    """The operator adds a channel, the URL on stdin."""
    command("add", slug, label, "--language", language, stdin=url + "\n")
    return CommitteeChannel.objects.get(committee__slug=slug, label=label)


def incident_at(w: World, place: tuple[float, float] = EAST) -> Incident:
    report = submit_report(
        channel="web", kind="checkpoint", lat=place[0], lng=place[1], text="two vans"
    )
    return own_incident(report, w.dispatcher)


def confirmed(w: World, place: tuple[float, float] = EAST) -> Incident:
    return change_state(incident_at(w, place), State.CONFIRMED, actor=w.dispatcher)


def post_of(channel: CommitteeChannel, purpose: str = Purpose.CONFIRMED) -> CommitteePost:
    return CommitteePost.objects.get(channel=channel, alert__purpose=purpose)


def due_now(post: CommitteePost) -> None:
    """Let the post's retry time come (instead of waiting for the backoff)."""
    CommitteePost.objects.filter(pk=post.pk).update(next_attempt_at=timezone.now())


# --- who hears what, in which language ---


def test_it_posts_a_confirmed_alert_to_each_channel_in_its_language(
    w: World, peer: WebhookPeer
) -> None:
    english = add("east", "Webhook", peer.json_url())
    add("east", "Topic", peer.ntfy_url("east-alerts"), language="es")
    add("west", "West room", peer.json_url())

    confirmed(w)
    outcome = posts.drain()

    assert (outcome.sent, outcome.failed, outcome.dead) == (2, 0, 0)
    assert peer.rejections == []
    [hook] = peer.to(next(iter(peer.tokens)))
    assert hook.title.startswith("Confirmed: Checkpoint near ")
    assert hook.message.startswith("Tocsin alert. Confirmed checkpoint near ")
    assert "Observe, document, support. Do not interfere." in hook.message
    assert "Members: your own alert has the details" in hook.message
    assert hook.message.endswith(HOME)
    [topic] = peer.to("east-alerts")
    assert topic.title.startswith("Alerta confirmada: Retén cerca de ")
    assert topic.message.startswith("Alerta de Tocsin confirmada: retén cerca de ")
    assert "Observe, documente, apoye. No interfiera." in topic.message
    assert "Miembros: su propia alerta tiene los detalles" in topic.message
    english.refresh_from_db()
    assert english.last_sent_at is not None and not english.failing


def test_the_link_is_the_public_home_never_a_members_signed_link(
    w: World, peer: WebhookPeer
) -> None:
    add("east", "Webhook", peer.json_url())
    incident = confirmed(w)
    posts.drain()
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    posts.drain()

    assert len(peer.posts) == 2
    for post in peer.posts:
        assert HOME in post.message
        assert "/a/" not in post.message and "/v/" not in post.message


def test_the_all_clear_follows_the_alert_to_the_same_channels(w: World, peer: WebhookPeer) -> None:
    add("east", "Webhook", peer.json_url())
    add("east", "Topic", peer.ntfy_url("east-alerts"), language="es")
    add("east", "Added later", peer.json_url())
    incident = confirmed(w)
    posts.drain()
    CommitteePost.objects.filter(channel__label="Added later").delete()
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    posts.drain()

    follow_ups = [p for p in peer.posts[3:]]
    assert sorted((p.service, p.title.split(":")[0]) for p in follow_ups) == [
        ("json", "All clear"),
        ("ntfy", "Fin de la alerta"),
    ]
    [es] = [p for p in follow_ups if p.service == "ntfy"]
    assert es.message.startswith("Tocsin: fin de la alerta.")


def test_a_false_alarm_posts_a_correction_in_each_language(w: World, peer: WebhookPeer) -> None:
    add("east", "Webhook", peer.json_url())
    add("east", "Topic", peer.ntfy_url("east-alerts"), language="es")
    incident = confirmed(w)
    posts.drain()
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    posts.drain()

    [en] = [p for p in peer.posts if p.title.startswith("Correction:")]
    assert "was a false alarm. Nothing to do." in en.message
    [es] = [p for p in peer.posts if p.service == "ntfy" and "falsa" in p.message]
    assert es.message.startswith("Tocsin: corrección.")


def test_unverified_reports_and_verifier_requests_never_reach_a_channel(
    w: World, peer: WebhookPeer
) -> None:
    add("east", "Webhook", peer.json_url())
    add("east", "Topic", peer.ntfy_url("east-alerts"))
    incident = incident_at(w)
    # Verifying sends a "possible" alert to responders; a verifier gets a request.
    change_state(incident, State.VERIFYING, actor=w.dispatcher)
    with transaction.atomic():
        outbox.issue_alert(incident, Purpose.POSSIBLE)
        outbox.issue_direct(incident, Purpose.VERIFY, {w.responder.pk})
    # ...they hear of it, and it turns out a false alarm: they get a correction.
    outbox.drain()
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    posts.drain()

    purposes = set(Alert.objects.filter(incident=incident).values_list("purpose", flat=True))
    assert {Purpose.POSSIBLE, Purpose.VERIFY, Purpose.CORRECTION} <= purposes
    assert CommitteePost.objects.count() == 0
    assert peer.requests == []


def test_only_the_allow_listed_purposes_make_posts() -> None:
    assert set(posts.MEMBER_FACING) == {Purpose.CONFIRMED, Purpose.ALL_CLEAR, Purpose.CORRECTION}
    assert set(Purpose) - set(posts.MEMBER_FACING) >= {Purpose.POSSIBLE, Purpose.VERIFY}


def test_a_committee_far_away_hears_nothing(w: World, peer: WebhookPeer) -> None:
    add("west", "West room", peer.json_url())
    confirmed(w, EAST)
    posts.drain()
    assert peer.requests == []
    confirmed(w, WEST)
    posts.drain()
    assert len(peer.posts) == 1


def test_each_alert_makes_one_post_per_channel(w: World, peer: WebhookPeer) -> None:
    channel = add("east", "Webhook", peer.json_url())
    incident = confirmed(w)
    alert = incident.alerts.get(purpose=Purpose.CONFIRMED)
    with transaction.atomic():
        assert posts.queue(alert) == 1  # asked again: the unique row stays one
    assert CommitteePost.objects.filter(channel=channel).count() == 1
    posts.drain()
    posts.drain()
    assert len(peer.requests) == 1


# --- failures ---


def test_a_500_is_retried_later_with_backoff(w: World, peer: WebhookPeer) -> None:
    channel = add("east", "Webhook", peer.json_url())
    peer.fail_next(500)
    confirmed(w)
    before = timezone.now()

    outcome = posts.drain()

    assert (outcome.sent, outcome.failed) == (0, 1)
    post = post_of(channel)
    assert post.status == DeliveryStatus.FAILED
    assert post.error == "JSON: HTTP 500"
    assert post.next_attempt_at > before
    channel.refresh_from_db()
    assert channel.last_error == "JSON: HTTP 500" and channel.failing
    assert channel.disabled_at is None
    # Not due yet: nothing is sent.
    assert posts.drain().sent == 0
    due_now(post)
    assert posts.drain().sent == 1
    assert len(peer.posts) == 1 and len(peer.requests) == 2
    channel.refresh_from_db()
    assert not channel.failing


def test_the_backoff_is_capped() -> None:
    assert max(outbox.backoff(n) for n in range(1, 40)) <= 600


def test_a_channel_that_keeps_failing_gives_up_after_the_last_attempt(
    w: World, peer: WebhookPeer, settings: Settings
) -> None:
    settings.DELIVERY_MAX_ATTEMPTS = 2
    channel = add("east", "Webhook", peer.json_url())
    peer.fail_next(503, times=2)
    confirmed(w)
    posts.drain()
    due_now(post_of(channel))
    outcome = posts.drain()

    assert outcome.dead == 1
    post = post_of(channel)
    assert (post.status, post.attempts, post.error) == (DeliveryStatus.DEAD, 2, "JSON: HTTP 503")
    # A transient failure never turns the channel off.
    channel.refresh_from_db()
    assert channel.disabled_at is None


def test_an_unreachable_server_is_retried(w: World, peer: WebhookPeer) -> None:
    channel = add("east", "Webhook", peer.json_url())
    # The service moved: same URL shape, a port nobody listens on.
    CommitteeChannel.objects.filter(pk=channel.pk).update(
        sealed=CommitteeChannel.seal_url("json://localhost:9/hooks/gone")
    )
    confirmed(w)
    assert posts.drain().failed == 1
    assert post_of(channel).error == "JSON: server unreachable"


def test_a_url_apprise_cannot_use_is_permanent_and_turns_the_channel_off(
    w: World, peer: WebhookPeer
) -> None:
    # A URL this worker's Apprise cannot load (a service another install had).
    channel = CommitteeChannel.objects.create(
        committee=w.east,
        label="Old room",
        service="Gone",
        scheme="gone",
        sealed=CommitteeChannel.seal_url("gone://secret-token@chat.example/room"),
    )
    confirmed(w)
    outcome = posts.drain()

    assert outcome.dead == 1
    post = post_of(channel)
    assert post.status == DeliveryStatus.DEAD and post.attempts == 1
    channel.refresh_from_db()
    assert channel.disabled_at is not None
    assert channel.last_error.startswith("Apprise cannot use this URL")
    listed = command("list", "east")
    assert "Old room: Gone (gone://), English, off since" in listed
    assert "Apprise cannot use this URL" in listed
    assert "secret-token" not in listed and "chat.example" not in listed
    # The next alert skips it.
    confirmed(w)
    assert CommitteePost.objects.filter(channel=channel).count() == 1


def test_a_post_waiting_when_its_alert_expires_is_not_sent(w: World, peer: WebhookPeer) -> None:
    channel = add("east", "Webhook", peer.json_url())
    incident = confirmed(w)
    Alert.objects.filter(incident=incident).update(expires_at=timezone.now())
    outcome = posts.drain()
    assert outcome.cancelled == 1
    assert post_of(channel).status == DeliveryStatus.CANCELLED
    assert peer.requests == []


def test_a_room_never_reads_the_all_clear_before_the_alert(w: World, peer: WebhookPeer) -> None:
    channel = add("east", "Webhook", peer.json_url())
    incident = confirmed(w)
    first = posts.claim()  # a worker holds the alert's post...
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    assert post_of(channel, Purpose.ALL_CLEAR).status == DeliveryStatus.QUEUED
    assert posts.claim().ids == []  # ...so the all-clear waits for it
    posts.send_batch(first, posts.Outcome())
    assert posts.drain().sent == 1
    assert [p.title.split(":")[0] for p in peer.posts] == ["Confirmed", "All clear"]


def test_a_confirmed_post_still_waiting_at_the_all_clear_is_cancelled(
    w: World, peer: WebhookPeer
) -> None:
    channel = add("east", "Webhook", peer.json_url())
    peer.fail_next(500)
    incident = confirmed(w)
    posts.drain()
    change_state(incident, State.RESOLVED, actor=w.dispatcher)

    assert post_of(channel).status == DeliveryStatus.CANCELLED
    # The room never saw the alert, so it gets no all-clear either.
    assert not CommitteePost.objects.filter(alert__purpose=Purpose.ALL_CLEAR).exists()


# --- a worker dies ---


def test_a_claimed_post_whose_worker_died_is_sent_once_the_lease_runs_out(
    w: World, peer: WebhookPeer
) -> None:
    channel = add("east", "Webhook", peer.json_url())
    confirmed(w)
    assert posts.claim().ids  # claimed, then the worker died before sending
    assert posts.drain().sent == 0  # leased: nobody else takes it
    CommitteePost.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert posts.drain().sent == 1
    assert len(peer.posts) == 1
    assert post_of(channel).status == DeliveryStatus.SENT


def worker_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    from tests.test_workers_exactly_once import workers_database_url

    return workers_database_url()


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_send_loses_nothing_and_posts_once(
    settings: Settings, peer: WebhookPeer, tmp_path: Path
) -> None:
    """A real worker process is SIGKILLed after the webhook got the post and before the
    worker heard so. The post is still there; after its lease another worker sends it
    again with the same Idempotency-Key, and the webhook shows it once."""
    settings.APPRISE_ENABLED = True
    w = world()
    channel = add("east", "Webhook", peer.json_url())
    confirmed(w)
    peer.hold_next()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TOCSIN_DATABASE_URL": worker_database_url(),
        "TOCSIN_DATA_DIR": str(django_settings.DATA_DIR),
        "TOCSIN_SITE_URL": django_settings.SITE_URL,
        "TOCSIN_APPRISE_ENABLED": "1",
    }
    log = tmp_path / "worker.log"
    code = "import django; django.setup(); from tocsin.alerts import posts; posts.drain()"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        while not peer.held.wait(0.1):
            assert worker.poll() is None, log.read_text()
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert worker.returncode == -signal.SIGKILL

    post = post_of(channel)
    assert post.status == DeliveryStatus.SENDING  # not lost, not taken for sent
    assert len(peer.posts) == 1
    CommitteePost.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert posts.drain().sent == 1

    assert post_of(channel).status == DeliveryStatus.SENT
    assert len(peer.requests) == 2
    keys = {r.headers.get("Idempotency-Key") for r in peer.requests}
    assert keys == {f"a{post.alert_id}-c{channel.pk}"}
    assert len(peer.posts) == 1


# --- off until configured ---


def test_nothing_is_queued_or_sent_while_the_channel_is_off(
    w: World, peer: WebhookPeer, settings: Settings
) -> None:
    channel = add("east", "Webhook", peer.json_url())
    settings.APPRISE_ENABLED = False
    confirmed(w)
    assert not CommitteePost.objects.exists()
    CommitteePost.objects.create(alert=Alert.objects.get(), channel=channel)
    assert posts.drain().sent == 0
    assert peer.requests == []


def test_the_system_check_says_whether_it_is_on(settings: Settings) -> None:
    settings.APPRISE_ENABLED = False
    [info] = channel_checks.check_apprise()
    assert info.level == checks.INFO and info.id == "channels.I002"
    assert "TOCSIN_APPRISE_ENABLED" in info.msg
    settings.APPRISE_ENABLED = True
    assert channel_checks.check_apprise() == []


# --- where a channel may post (tocsin.lib.egress) ---
#
# A channel's URL names a server, and the worker that posts holds the vault key inside
# the operator's network: only public addresses, unless the operator lists the host in
# TOCSIN_APPRISE_PRIVATE_HOSTS (the suite lists its webhook peer's localhost there).


def stored_channel(w: World, url: str) -> CommitteeChannel:
    """A channel as the worker finds it: added before this check, or since unlisted."""
    return CommitteeChannel.objects.create(
        committee=w.east,
        label="Room",
        service="JSON",
        scheme=url.split("://", 1)[0],
        sealed=CommitteeChannel.seal_url(url),
    )


def loopback_disguises(port: int, token: str) -> list[str]:
    return [
        f"json://localhost:{port}/hooks/{token}",
        f"json://127.0.0.1:{port}/hooks/{token}",
        f"json://2130706433:{port}/hooks/{token}",
        f"json://0x7f000001:{port}/hooks/{token}",
        f"json://[::ffff:7f00:1]:{port}/hooks/{token}",
        f"json://[::1]:{port}/hooks/{token}",
        f"json://hooks.example.net:{port}/hooks/{token}",
        f"ntfy://localhost:{port}/east-alerts",
    ]


@pytest.fixture
def unlisted(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """No private host is listed; hooks.example.net resolves to loopback (as any name
    can, under the control of whoever owns its domain)."""
    settings.APPRISE_PRIVATE_HOSTS = ()
    real = egress.resolve

    def resolve(host: str, port: int) -> list[egress.Address]:
        if host == "hooks.example.net":
            return [ipaddress.ip_address("127.0.0.1")]
        return real(host, port)

    monkeypatch.setattr(egress, "resolve", resolve)


def test_add_refuses_a_server_on_the_operators_network_unless_listed(
    w: World, peer: WebhookPeer, unlisted: None
) -> None:
    token = next(iter(peer.tokens))
    for url in loopback_disguises(peer.port, token):
        with pytest.raises(CommandError) as e:
            command("add", "east", "Room", stdin=url + "\n")
        assert "TOCSIN_APPRISE_PRIVATE_HOSTS" in str(e.value), url
        assert str(peer.port) not in str(e.value)
    assert not CommitteeChannel.objects.exists()
    assert peer.requests == []


def test_a_stored_channel_on_the_operators_network_is_never_posted_to(
    w: World, peer: WebhookPeer, unlisted: None
) -> None:
    token = next(iter(peer.tokens))
    for url in loopback_disguises(peer.port, token):
        CommitteeChannel.objects.all().delete()
        channel = stored_channel(w, url)
        confirmed(w)
        assert posts.drain().dead == 1, url
        channel.refresh_from_db()
        assert channel.disabled_at is not None
        assert "TOCSIN_APPRISE_PRIVATE_HOSTS" in channel.last_error
    assert peer.requests == []


def test_a_name_that_resolves_into_the_network_when_posting_is_refused(
    w: World, peer: WebhookPeer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first lookup (the check before Apprise runs) says public, the one for the
    # connection says loopback: the connection is refused, not made.
    settings.APPRISE_PRIVATE_HOSTS = ()
    answers = iter(["142.250.72.10", "127.0.0.1"])

    def resolve(host: str, port: int) -> list[egress.Address]:
        assert host == "hooks.example.net"
        return [ipaddress.ip_address(next(answers, "127.0.0.1"))]

    monkeypatch.setattr(egress, "resolve", resolve)
    channel = stored_channel(w, f"json://hooks.example.net:{peer.port}/hooks/x")
    confirmed(w)
    assert posts.drain().dead == 1
    channel.refresh_from_db()
    assert "not a public address" in channel.last_error
    assert peer.requests == []


def test_a_listed_private_host_is_posted_to(
    w: World, peer: WebhookPeer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.APPRISE_PRIVATE_HOSTS = ("ntfy.lan",)
    real = egress.resolve

    def resolve(host: str, port: int) -> list[egress.Address]:
        if host == "ntfy.lan":
            return [ipaddress.ip_address("127.0.0.1")]
        return real(host, port)

    monkeypatch.setattr(egress, "resolve", resolve)
    add("east", "Topic", peer.ntfy_url("east-alerts", host="ntfy.lan"))
    confirmed(w)
    assert posts.drain().sent == 1
    assert len(peer.to("east-alerts")) == 1


@pytest.mark.parametrize(
    ("status", "query"), [(301, ""), (307, ""), (307, "?redirect=yes")], ids=str
)
def test_a_server_that_redirects_is_not_followed(w: World, status: int, query: str) -> None:
    # Not even when the URL asks Apprise to follow redirects.
    with Witness() as elsewhere, Witness() as server:
        server.answer = witness_redirect(status, f"{elsewhere.origin}/hooks/x")
        channel = stored_channel(w, f"json://127.0.0.1:{server.port}/hooks/x{query}")
        confirmed(w)
        assert posts.drain().dead == 1
        assert server.connections == 1
        assert elsewhere.connections == 0
        channel.refresh_from_db()
        assert channel.last_error == f"JSON: HTTP {status}, redirect not followed"
        assert channel.disabled_at is not None


def test_a_service_whose_url_names_no_server_is_not_looked_up(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # discord://ID/TOKEN names Discord's server by the service, not the URL: the ID is
    # no host (12345678 would read as 0.188.97.78), so it is never checked as one.
    asked: list[str] = []
    real = egress.resolve

    def resolve(host: str, port: int) -> list[egress.Address]:
        asked.append(host)
        return real(host, port)

    monkeypatch.setattr(egress, "resolve", resolve)
    command("add", "east", "Discord", stdin="discord://12345678/secret-token\n")
    assert asked == []


# --- the operator's command ---


def test_add_refuses_a_url_apprise_cannot_use_without_echoing_it(w: World) -> None:
    with pytest.raises(CommandError) as e:
        command("add", "east", "Room", stdin="nosuch://secret-token@chat.example/room\n")
    assert "Apprise cannot use this URL" in str(e.value)
    assert "secret-token" not in str(e.value)
    assert not CommitteeChannel.objects.exists()


def test_add_stores_the_url_sealed_and_list_never_prints_it(w: World, peer: WebhookPeer) -> None:
    url = peer.ntfy_url("east-alerts")
    out = command("add", "east", "Topic", "--language", "es", stdin=url + "\n")
    assert out.startswith("Added Topic (ntfy) to east.")
    channel = CommitteeChannel.objects.get()
    assert (channel.service, channel.scheme, channel.language) == ("ntfy", "ntfy", "es")
    assert url.encode() not in bytes(channel.sealed)
    assert channel.open() == {"address": url}

    listed = command("list")
    assert "east  Topic: ntfy (ntfy://), Español, on; last post never" in listed
    for secret in (url, "east-alerts", peer.ntfy_token, str(peer.port)):
        assert secret not in listed


def test_add_refuses_a_second_channel_with_the_same_label(w: World, peer: WebhookPeer) -> None:
    add("east", "Room", peer.json_url())
    with pytest.raises(CommandError, match="already has a channel 'Room'"):
        command("add", "east", "Room", stdin=peer.json_url() + "\n")


def test_add_says_when_nothing_will_be_posted_yet(
    w: World, peer: WebhookPeer, settings: Settings
) -> None:
    settings.APPRISE_ENABLED = False
    out = command("add", "east", "Room", stdin=peer.json_url() + "\n")
    assert "Nothing is posted yet: TOCSIN_APPRISE_ENABLED is off" in out
    assert "Committee channels are off" in command("list")


def test_test_posts_a_test_message_in_the_channels_language(w: World, peer: WebhookPeer) -> None:
    add("east", "Topic", peer.ntfy_url("east-alerts"), language="es")
    assert command("test", "east", "Topic") == "Topic: sent\n"
    [post] = peer.posts
    assert post.message == "Tocsin: mensaje de prueba. El operador está revisando este canal."


def test_test_says_why_a_post_failed(w: World, peer: WebhookPeer) -> None:
    add("east", "Room", peer.json_url())
    peer.fail_next(500)
    with pytest.raises(CommandError, match=r"Room: not sent \(temporary\): JSON: HTTP 500"):
        command("test", "east", "Room")


def test_test_needs_the_vault_private_key(w: World, peer: WebhookPeer, settings: Settings) -> None:
    add("east", "Room", peer.json_url())
    public, _private = vault.generate_keypair()
    settings.VAULT_PUBLIC_KEY = public
    vault.reset_caches()
    try:
        with pytest.raises(CommandError, match="only the vault's public key"):
            command("test", "east", "Room")
    finally:
        settings.VAULT_PUBLIC_KEY = ""
        vault.reset_caches()


def test_remove_deletes_the_channel_and_its_posts(w: World, peer: WebhookPeer) -> None:
    add("east", "Room", peer.json_url())
    confirmed(w)
    assert command("remove", "east", "Room") == "Removed Room of east.\n"
    assert not CommitteeChannel.objects.exists() and not CommitteePost.objects.exists()
    with pytest.raises(CommandError, match="east has no channel 'Room'"):
        command("remove", "east", "Room")


# --- the committee page ---


def as_(persona: Any) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


def test_the_committee_page_shows_its_channels_and_never_their_url(
    w: World, peer: WebhookPeer
) -> None:
    add("east", "Neighbors room", peer.json_url())
    broken = add("east", "Old topic", peer.ntfy_url("east-alerts"))
    CommitteeChannel.objects.filter(pk=broken.pk).update(
        disabled_at=timezone.now(),
        last_error="Apprise cannot use this URL",
        last_error_at=timezone.now(),
    )
    add("west", "West room", peer.json_url())

    page = as_(w.organizer).get("/c/east/").content.decode()

    assert "Neighbors room" in page and "JSON" in page and "Old topic" in page
    assert "Off: the operator must add a working address" in page
    assert "Apprise cannot use this URL" in page
    assert "West room" not in page
    for secret in (next(iter(peer.tokens)), "east-alerts", peer.ntfy_token, f":{peer.port}"):
        assert secret not in page
    # Pages follow the member's own language.
    w.organizer.language = "es"
    w.organizer.save(update_fields=["language"])
    page = as_(w.organizer).get("/c/east/").content.decode()
    assert "Canales en otros servicios" in page


# --- a seized disk ---


@pytest.mark.django_db(transaction=True)
def test_a_seized_database_and_log_hold_no_channel_url(
    settings: Settings, peer: WebhookPeer
) -> None:
    """The URLs (with their tokens, hosts and rooms) of a whole run, failures and the
    operator's commands included, appear nowhere in the database, the data folder or
    the log at DEBUG."""
    settings.APPRISE_ENABLED = True
    fresh_sqlite_file()
    hook_url = peer.json_url()
    topic_url = peer.ntfy_url("east-alerts-7f3a")
    needles = Needles()
    needles.add("the webhook URL", hook_url)
    needles.add("the webhook token", next(iter(peer.tokens)))
    needles.add("the ntfy URL", topic_url)
    needles.add("the ntfy topic", "east-alerts-7f3a")
    needles.add("the ntfy token", peer.ntfy_token)
    needles.add("the server and port", f"localhost:{peer.port}")
    with LogCapture() as logs:
        w = world()
        add("east", "Webhook", hook_url)
        add("east", "Topic", topic_url, language="es")
        output = command("list") + command("test", "east", "Topic")
        peer.fail_next(500)
        incident = confirmed(w)
        posts.drain()
        CommitteePost.objects.update(next_attempt_at=timezone.now())
        posts.drain()
        change_state(incident, State.RESOLVED, actor=w.dispatcher)
        posts.drain()

    assert len(peer.posts) == 5, peer.posts  # the test, two alerts, two all-clears
    assert CommitteeChannel.objects.filter(last_error="JSON: HTTP 500").exists()
    image = database_image()
    assert any(b"Webhook" in data for data in image.values())
    hits = (
        hits_in(with_signed_payloads(image), needles)
        + hits_in(data_folder_image(), needles)
        + hits_in({"the log": logs.text.encode(), "the command output": output.encode()}, needles)
    )
    assert hits == [], "\n".join(hits)
