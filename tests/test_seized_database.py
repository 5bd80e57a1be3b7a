"""A seized disk holds no contact address and no IP address (DESIGN.md section 2).

The whole core loop runs through real peers (a push service that verifies VAPID and
decrypts, an SMTP server): people join from an invite, confirm their email, subscribe a
device to push, log in with an emailed code; a report is opened, verified, confirmed and
fanned out; responders answer through the links they received; the incident is resolved
and the all-clear goes out. Every request carries a client address, forwarding headers
and a user agent. Then everything a seizure would take is searched: the database (the
SQLite file with its -wal and -shm files, or a pg_dump of the PostgreSQL database), the
data folder (uploads, keys) and every log line of the run at DEBUG. None may hold an
email address, a push endpoint or push key, the user agent, or any IP address.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests import disk, factories, pow_support
from tests.conftest import need
from tests.factories import EAST
from tests.peers.push_service import PushService
from tests.peers.smtp import SMTPPeer, mail_settings
from tests.privacy_support import (
    CLIENT_IP,
    FORWARDED_IPS,
    LogCapture,
    Needles,
    context,
    files_under,
    identifying_headers,
    ip_addresses,
    signed_payloads,
)
from tocsin.alerts import outbox
from tocsin.committees.models import Invite, Role
from tocsin.family import panic, sending
from tocsin.incidents.services import change_state, open_incident
from tocsin.intake.models import Report
from tocsin.members.models import ContactEndpoint, Member
from tocsin.mobilize import notices
from tocsin.mobilize.models import Mobilization, Response
from tocsin.transports import vapid

pytestmark = pytest.mark.django_db(transaction=True)

# One value per run, in every planted string: a hit can only come from this test.
TAG = secrets.token_hex(4)
USER_AGENT = f"SeizedCanary/{TAG} (Linux; Android 14; Pixel 8) Mobile"
LINK = re.compile(r"https?://[^\s\"'<>]+/a/[^/\s\"'<>]+/")
VERIFY = re.compile(r"https?://[^\s\"'<>]+(/verify/[^/\s\"'<>]+/)")


# An emergency contact's phone number (family plans): sealed like every contact.
TIA_PHONE = "+12135550177"


def email_of(name: str) -> str:
    return f"seized-{name.lower()}-{TAG}@canary-{TAG}.example"


def display_name(name: str) -> str:
    # Display names are stored in the clear by design: the scan must find them, which
    # shows it reads the data the run wrote.
    return f"{name}-{TAG}"


@dataclass
class Run:
    push: PushService
    smtp: SMTPPeer
    needles: Needles = field(default_factory=Needles)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def client(self) -> Client:
        """Return a browser that tells the server all it can about its user."""
        return Client(**identifying_headers(USER_AGENT))

    def subscribe(self, name: str) -> dict[str, Any]:
        """Return a new push subscription for ``name``'s phone and remember its secrets."""
        sub = self.push.subscription(application_server_key=vapid.application_server_key())
        self.subscriptions[name] = sub
        self.needles.add(f"{name}'s push endpoint", sub["endpoint"])
        self.needles.add(f"{name}'s push subscription id", PushService.id_of(sub))
        self.needles.add_key(f"{name}'s p256dh key", sub["keys"]["p256dh"])
        self.needles.add_key(f"{name}'s auth secret", sub["keys"]["auth"])
        return sub

    def mail_to(self, name: str) -> list[Any]:
        return self.smtp.to(email_of(name))


@pytest.fixture
def run(settings: Any) -> Iterator[Run]:
    with PushService() as push, SMTPPeer() as smtp:
        mail_settings(settings, smtp)
        settings.DEFAULT_FROM_EMAIL = f"Tocsin <alerts@tocsin-{TAG}.example>"
        r = Run(push=push, smtp=smtp)
        for name in ("Olga", "Diego", "Rosa", "Mateo", "Ana", "Lupe", "Beto", "Paz"):
            r.needles.add(f"{name}'s email", email_of(name))
        r.needles.add("the user agent", USER_AGENT)
        for ip in (CLIENT_IP, *FORWARDED_IPS):
            r.needles.add(f"the address {ip}", ip)
        r.needles.add("Tia's phone", TIA_PHONE)
        yield r


def text_of(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, message["Subject"]
    return part.get_content()


def join_from_invite(run: Run, invite: Invite, name: str) -> Client:
    """``name`` joins from the invite link with an email, confirms it, adds an area and
    turns on push on their phone."""
    client = run.client()
    response = client.post(
        f"/join/{invite.token}/",
        {"display_name": display_name(name), "language": "en", "email": email_of(name)},
    )
    assert response.status_code == 302, response.content[:500]
    [mail] = run.mail_to(name)
    found = VERIFY.search(text_of(mail))
    assert found, text_of(mail)
    assert client.get(found.group(1)).status_code == 200
    add_area_and_push(run, client, name)
    return client


def add_area_and_push(run: Run, client: Client, name: str) -> None:
    response = client.post(
        "/me/areas/", {"lat": EAST[0], "lng": EAST[1], "ring": 1, "label": "work"}
    )
    assert response.status_code == 302
    sub = run.subscribe(name)
    response = client.post(
        "/me/push/", json.dumps({**sub, "label": "phone"}), content_type="application/json"
    )
    assert response.status_code == 200, response.content


def log_in_by_code(run: Run, name: str) -> Client:
    """``name`` logs in with the code emailed to them."""
    client = run.client()
    already = len(run.mail_to(name))
    response = client.post("/login/", {"email": email_of(name)})
    assert response.status_code == 302, response.content[:500]
    mail = run.mail_to(name)[already:]
    assert mail, f"no login code for {name}"
    code = re.search(r"\b(\d{6})\b", str(mail[-1]["Subject"]))
    assert code, mail[-1]["Subject"]
    response = client.post("/login/code/", {"code": code.group(1)})
    assert response.status_code == 302, response.content[:500]
    assert client.get("/me/").status_code == 200
    return client


def report_a_raid(run: Run) -> Report:
    """An anonymous reporter sends a report from the web form."""
    client = run.client()
    assert client.get("/report/").status_code == 200
    response = client.post(
        "/report/",
        {
            "kind": "workplace_raid",
            "lat": EAST[0],
            "lng": EAST[1],
            "text": "Two unmarked vans at the loading dock.",
            "nonce": secrets.token_urlsafe(24),
            "altcha": pow_support.solution(client),
        },
    )
    assert response.status_code == 302, response.content[:1000]
    receipt = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert client.get(response["Location"]).status_code == 200
    return Report.objects.get(receipt=receipt)


def alert_links(run: Run, names: list[str], subject_start: str) -> dict[str, str]:
    """Return name -> the path of the alert link each got (by push or by email)."""
    links: dict[str, str] = {}
    for name in names:
        for message in run.push.json_for(run.subscriptions.get(name, "/push/none")):
            if message["title"].startswith(subject_start):
                links[name] = urlsplit(message["url"]).path
        for mail in run.mail_to(name):
            if str(mail["Subject"]).startswith(subject_start):
                [url] = set(LINK.findall(text_of(mail)))
                links[name] = urlsplit(url).path
    return links


def the_core_loop(run: Run) -> None:
    east = factories.committee("East")
    factories.member(display_name("Olga"), east, Role.ORGANIZER, email=email_of("Olga"))
    diego = factories.member(display_name("Diego"), east, Role.DISPATCHER, email=email_of("Diego"))
    factories.member(display_name("Rosa"), east, Role.RESPONDER, area=EAST, email=email_of("Rosa"))
    # Mateo was added by an organizer: push first, email as the fallback.
    mateo = factories.member(display_name("Mateo"), east, area=EAST, email=email_of("Mateo"))
    sub = run.subscribe("Mateo")
    push = ContactEndpoint.create(
        mateo, "webpush", sub["endpoint"], data={"keys": sub["keys"]}, verified=True
    )
    ContactEndpoint.objects.filter(pk=push.pk).update(priority=0)
    ContactEndpoint.objects.filter(member=mateo, kind="email").update(priority=1)
    # Ana has a verified email; she logs in with a code and turns on push.
    ana = factories.member(display_name("Ana"), east, area=EAST, email=email_of("Ana"))
    ana_client = log_in_by_code(run, "Ana")
    add_area_and_push(run, ana_client, "Ana")
    ContactEndpoint.objects.filter(member=ana, kind="webpush").update(priority=0)
    ContactEndpoint.objects.filter(member=ana, kind="email").update(priority=1)
    # Lupe joins from a responder invite on her own phone.
    invite = Invite.objects.create(committee=east, role=Role.RESPONDER)
    join_from_invite(run, invite, "Lupe")

    # report -> open -> verifying -> confirmed -> drain.
    report = report_a_raid(run)
    incident = open_incident(report, actor=diego)
    change_state(incident, "verifying", actor=diego)
    change_state(incident, "confirmed", actor=diego, summary="Near the loading dock.")
    outcome = outbox.drain()
    assert run.push.rejections == []
    assert (outcome.failed, outcome.dead) == (0, 0)
    alerted = ["Rosa", "Mateo", "Ana", "Lupe"]
    links = alert_links(run, alerted, "Confirmed: ")
    assert sorted(links) == sorted(alerted), links
    # ...and the responders Rosa and Lupe heard first that it was possible.
    assert outcome.sent == len(alerted) + 2

    # Everyone opens their link; the responders are on their way.
    for name, path in links.items():
        client = run.client()
        assert client.get(path).status_code == 200
        if name in ("Rosa", "Lupe"):
            response = client.post(
                path, {"role": "observer", "eta_minutes": 10, "state": "on_my_way"}
            )
            assert response.status_code == 302, response.content[:500]
    assert Response.objects.filter(incident=incident).count() == 2

    # resolved -> drain: the all-clear reaches everyone who got the alert.
    change_state(incident, "resolved", actor=diego)
    outcome = outbox.drain()
    assert run.push.rejections == []
    assert (outcome.sent, outcome.failed, outcome.dead) == (len(alerted), 0, 0)
    assert sorted(alert_links(run, alerted, "All clear: ")) == sorted(alerted)
    # A member logs in again by code after it is over.
    log_in_by_code(run, "Lupe")
    assert Member.objects.filter(display_name=display_name("Lupe")).exists()

    # Beto, with no account, signs up for a vigil by email, gets his link and cancels.
    start = timezone.now() + timedelta(days=2)
    vigil = Mobilization.objects.create(
        committee=east,
        kind="vigil",
        title="Vigil",
        address="Plaza",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )
    beto = run.client()
    page = reverse("mobilization", args=[vigil.pk])
    response = beto.post(page, {"channel": "email", "address": email_of("Beto")})
    assert response.status_code == 200, response.content[:500]
    assert notices.send_due() == 1
    [mail] = run.mail_to("Beto")
    [link] = re.findall(r"https?://\S+/m/r/\S+/", text_of(mail))
    assert beto.post(urlsplit(link).path, {"action": "cancel"}).status_code == 302

    # Mateo prepares a family plan: Paz (email) agrees to be his contact, Tia (SMS) does
    # not answer; he presses the panic button and cancels it with his PIN.
    mateo_client = factories.session_for(mateo)
    for label, kind, address in (("Paz", "email", email_of("Paz")), ("Tia", "sms", TIA_PHONE)):
        plan = panic.plan_for(mateo)
        panic.add_contact(plan, label=label, kind=kind, address=address, language="es")
    mateo_client.post(reverse("family_pin"), {"pin": "2468", "again": "2468"})
    sending.send_due()
    [request] = run.mail_to("Paz")
    [agree] = re.findall(r"https?://\S+/family/confirm/\S+/", text_of(request))
    assert run.client().post(urlsplit(agree).path).status_code == 200
    assert mateo_client.post(reverse("family_panic")).status_code == 302
    sending.send_due()
    assert mateo_client.post(reverse("family_cancel"), {"pin": "2468"}).status_code == 302
    sending.send_due()
    assert len(run.mail_to("Paz")) == 3


# What a seizure takes.


def find_pg_dump() -> str | None:
    found = shutil.which("pg_dump")
    if found:
        return found
    candidates = glob.glob("/usr/lib/postgresql/*/bin/pg_dump")
    candidates.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return candidates[-1] if candidates else None


def database_image() -> dict[str, bytes]:
    """Return what a seizure of the database gives, by source name."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        path = Path(db["NAME"])
        assert path.is_file(), f"the test database is not a file: {path}"
        out = {}
        for suffix in ("", "-wal", "-shm"):
            extra = Path(f"{path}{suffix}")
            if extra.exists():
                out[extra.name] = disk.read(extra)
        return out
    assert connection.vendor == "postgresql", connection.vendor
    pg_dump = find_pg_dump()
    need(pg_dump is not None, "pg_dump is not installed (apt-get install postgresql-client)")
    assert pg_dump is not None
    env = {**os.environ, "PGPASSWORD": str(db.get("PASSWORD") or "")}
    command = [pg_dump, "--no-owner", "--no-privileges", "--dbname", db["NAME"]]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            command += [flag, str(db[key])]
    done = subprocess.run(command, capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return {f"pg_dump {db['NAME']}": done.stdout}


def data_folder_image() -> dict[str, bytes]:
    roots = [Path(django_settings.DATA_DIR)]
    media = getattr(django_settings, "MEDIA_ROOT", "")
    if media:
        roots.append(Path(media))
    return {str(p): disk.read(p) for p in files_under(*roots)}


def with_signed_payloads(image: dict[str, bytes]) -> dict[str, bytes]:
    """Add the decoded contents of signed values (sessions, tokens): anyone can read them."""
    out = dict(image)
    for source, data in image.items():
        decoded = b"\n".join(signed_payloads(data))
        if decoded:
            out[f"{source} (signed values, decoded)"] = decoded
    return out


def hits_in(image: dict[str, bytes], needles: Needles) -> list[str]:
    hits = []
    for source, data in image.items():
        text = data.decode("latin-1")
        for label in needles.find(data):
            needle = needles.text.get(label, "")
            hits.append(f"{label} in {source}: {context(text, needle) if needle else ''}")
        for ip in ip_addresses(text):
            hits.append(f"IP address {ip} in {source}: {context(text, ip)}")
    return hits


def fresh_sqlite_file() -> None:
    """Start from a fresh install: on SQLite, rewrite the file and empty the log, so what
    earlier tests wrote (and deleted) is not taken for this run's writes."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def test_a_seized_database_data_folder_and_log_hold_no_address(run: Run) -> None:
    fresh_sqlite_file()
    # Entered here, not in a fixture: LogCapture adjusts pytest's per-phase handlers.
    with LogCapture() as logs:
        the_core_loop(run)
        logging.getLogger("tocsin.tests").debug("log capture works at DEBUG: %s", TAG)

    database = database_image()
    files = data_folder_image()
    log = {"the log": logs.text.encode()}

    # The scans read what the run wrote.
    assert any(display_name("Rosa").encode() in data for data in database.values()), (
        "the database image does not hold the run's data"
    )
    assert f"log capture works at DEBUG: {TAG}" in logs.text

    hits = (
        hits_in(with_signed_payloads(database), run.needles)
        + hits_in(with_signed_payloads(files), run.needles)
        + hits_in(log, run.needles)
    )
    assert hits == [], "\n".join(hits)


def test_deleted_rows_leave_nothing_in_the_file(run: Run) -> None:
    """A member deleting their account (outside the purge) leaves no readable trace once
    the write-ahead log is checkpointed: SQLite zeroes what a delete frees."""
    fresh_sqlite_file()
    member = factories.member(display_name("Gone"), email=email_of("Gone"))
    member.user.delete()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    image = database_image()
    assert not any(display_name("Gone").encode() in data for data in image.values())


def test_the_scan_finds_what_a_careless_write_would_leave(run: Run) -> None:
    """The scans are not blind: clear text, bytea and IP addresses are all found."""
    member = factories.member(display_name("Rosa"))
    sub = run.subscribe("Rosa")
    # An address stored unsealed, as bytes; an IP address in a text column; a session
    # holding an email (sessions are signed and compressed, not encrypted).
    ContactEndpoint.objects.create(
        member=member, kind="webpush", sealed=json.dumps(sub).encode(), blind_index="x"
    )
    Member.objects.filter(pk=member.pk).update(display_name="seen at 203.0.113.9")
    client = run.client()
    session = client.session
    session["careless"] = email_of("Rosa") * 20
    session.save()

    hits = hits_in(with_signed_payloads(database_image()), run.needles)

    text = "\n".join(hits)
    # As bytes: raw on SQLite, hex in PostgreSQL's dump of a bytea column.
    assert re.search(r"Rosa's push endpoint( \(hex\))? in ", text), text
    assert re.search(r"Rosa's p256dh key( \(hex\))? in ", text), text
    assert "IP address 203.0.113.9" in text
    assert "Rosa's email in" in text and "(signed values, decoded)" in text
