"""Members own their data: they can download it, and delete their account and every row
that names them."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import h3
import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import models
from django.test import Client
from django.urls import reverse

from tests import disk
from tests.factories import World, world
from tocsin.alerts.models import Alert, Certainty, Delivery, MsgType, Purpose
from tocsin.committees.models import Invite, Membership
from tocsin.incidents import services as incidents
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, ReportKind
from tocsin.members import security
from tocsin.members.models import LoginCode, Member
from tocsin.mobilize import rsvps
from tocsin.mobilize.models import Mobilization, ResponderRole, Response

pytestmark = pytest.mark.django_db


@pytest.fixture
def w() -> World:
    w = world()
    # Mateo answered an alert and got one; Rosa did too, so there is someone else's data.
    r = receive_report(channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=34.0339, lng=-118.2107)
    incident = incidents.open_incident(r, actor=w.dispatcher)
    alert = Alert.objects.create(
        incident=incident,
        msg_type=MsgType.ALERT,
        purpose=Purpose.CONFIRMED,
        certainty=Certainty.OBSERVED,
        cell=incident.cell,
        ring=2,
        expires_at=incident.opened_at,
        targeted=2,
    )
    for m, role in ((w.member, ResponderRole.OBSERVER), (w.responder, ResponderRole.INTERPRETER)):
        Response.objects.create(incident=incident, member=m, role=role, eta_minutes=12)
        Delivery.objects.create(alert=alert, member=m, endpoint=m.endpoints.get())
    Membership.objects.filter(member=w.responder).update(vouched_by=w.member)
    Invite.objects.create(committee=w.east, created_by=w.member)
    # Mateo and Rosa signed up for a vigil.
    start = incident.opened_at + timedelta(days=2)
    vigil = Mobilization.objects.create(
        committee=w.east,
        kind="vigil",
        title="Vigil",
        title_es="Vigilia",
        address="Plaza",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )
    for m in (w.member, w.responder):
        rsvps.sign_up(vigil, member=m, language=m.language)
    return w


def login(member: Member) -> Client:
    """Log in as the login views do (the session carries its epoch and start time)."""
    client = Client()
    client.force_login(member.user)
    session = client.session
    session[security.EPOCH_KEY] = member.session_epoch
    session[security.LOGIN_AT_KEY] = int(time.time())
    session.save()
    return client


def export(member: Member) -> tuple[Any, dict[str, Any]]:
    response = login(member).get(reverse("export_data"))
    assert response.status_code == 200
    return response, json.loads(response.content)


def delete(client: Client, word: str = "DELETE") -> Any:
    return client.post(reverse("delete_account"), {"confirm": word})


# --- download ---------------------------------------------------------------------------


def test_the_export_holds_the_members_own_data(w: World) -> None:
    _response, data = export(w.member)
    assert data["display_name"] == "Mateo"
    assert data["language"] == "en"
    assert data["committees"] == [
        {
            "name": "East",
            "kind": "neighborhood",
            "role": "member",
            "joined_at": data["committees"][0]["joined_at"],
        }  # noqa: E501
    ]
    area = w.member.areas.get()
    assert [(a["cell"], a["ring"]) for a in data["areas"]] == [(h3.int_to_str(area.cell), 1)]
    assert [(c["kind"], c["verified"], c["priority"]) for c in data["channels"]] == [
        ("email", True, 0)
    ]
    assert "sealed" in data["channels_note"]
    assert [(r["role"], r["eta_minutes"]) for r in data["responses"]] == [("observer", 12)]
    assert len(data["alerts_received"]) == 1
    assert [(r["title"], r["status"]) for r in data["mobilizations_signed_up"]] == [
        ("Vigil", "going")
    ]


def test_the_export_holds_nobody_elses_data(w: World) -> None:
    response, data = export(w.member)
    body = response.content.decode()
    for other in ("Rosa", "Olga", "Diego", "Otto", "Walt", "Wendy", "West", "interpreter"):
        assert other not in body
    assert "@example.org" not in body, "addresses are sealed and never exported"
    assert len(data["responses"]) == 1


def test_the_export_is_a_download_no_cache_keeps(w: World) -> None:
    response, _data = export(w.member)
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]


def test_an_outsider_exports_an_account_with_no_committee(w: World) -> None:
    _response, data = export(w.outsider)
    assert data["display_name"] == "Otto"
    assert data["committees"] == data["areas"] == data["channels"] == data["responses"] == []


@pytest.mark.parametrize("route", ["my_data", "export_data"])
def test_anonymous_visitors_are_sent_to_log_in(w: World, route: str) -> None:
    response = Client().get(reverse(route))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_visitors_cannot_delete_anything(w: World) -> None:
    response = delete(Client())
    assert response.status_code == 302
    assert Member.objects.count() == 7


def test_the_page_offers_both_and_warns_a_sole_organizer(w: World) -> None:
    page = login(w.organizer).get(reverse("my_data")).content.decode()
    assert reverse("export_data") in page
    assert reverse("delete_account") in page
    assert "only organizer" in page
    assert "East" in page
    assert "only organizer" not in login(w.member).get(reverse("my_data")).content.decode()


def test_the_me_page_links_to_it(w: World) -> None:
    assert reverse("my_data") in login(w.member).get(reverse("me")).content.decode()


# --- delete -----------------------------------------------------------------------------


def rows_naming(member_pk: int, user_pk: int) -> dict[str, int]:
    """Return, for every relation to a Member or a User in any model, the rows naming them."""
    found = {}
    for model in apps.get_models():
        for field in [*model._meta.concrete_fields, *model._meta.many_to_many]:
            if not field.is_relation:
                continue
            if field.related_model is Member:
                pk = member_pk
            elif field.related_model is User:
                pk = user_pk
            else:
                continue
            name = f"{model._meta.label}.{field.name}"
            found[name] = model._default_manager.filter(**{field.name: pk}).count()
    return found


def test_deleting_removes_every_row_that_names_them(w: World) -> None:
    member_pk, user_pk = w.member.pk, w.member.user.pk
    LoginCode.objects.create(member=w.member, code_hash="x" * 64, expires_at=w.member.created_at)
    before = rows_naming(member_pk, user_pk)
    assert before["alerts.Delivery.member"] == before["mobilize.Response.member"] == 1
    assert before["committees.Membership.vouched_by"] == 1
    assert before["committees.Invite.created_by"] == 1
    assert before["mobilize.Rsvp.member"] == 1
    response = delete(login(w.member))
    assert response.status_code == 200
    assert set(rows_naming(member_pk, user_pk).values()) == {0}
    assert not Member.objects.filter(pk=member_pk).exists()
    assert not User.objects.filter(pk=user_pk).exists()


def session_users() -> list[str]:
    return [str(s.get_decoded().get("_auth_user_id")) for s in Session.objects.all()]


def test_deleting_ends_every_session_of_theirs_and_no_one_elses(w: World) -> None:
    phone, laptop, rosa = login(w.member), login(w.member), login(w.responder)
    user_pk = str(w.member.user.pk)
    assert session_users().count(user_pk) == 2
    response = delete(phone)
    assert "Your account is deleted" in response.content.decode()
    assert user_pk not in session_users()
    assert phone.get(reverse("me")).status_code == 302
    assert laptop.get(reverse("me")).status_code == 302
    assert rosa.get(reverse("me")).status_code == 200


def test_deleting_leaves_the_committees_other_members_alone(w: World) -> None:
    others = list(
        Membership.objects.exclude(member=w.member).values_list("member_id", "committee_id", "role")
    )
    rosa_endpoints = w.responder.endpoints.count()
    delete(login(w.member))
    after = Membership.objects.values_list("member_id", "committee_id", "role")
    assert sorted(after) == sorted(others)
    assert Member.objects.count() == 6
    assert w.responder.endpoints.count() == rosa_endpoints
    assert Response.objects.filter(member=w.responder).count() == 1
    assert Delivery.objects.filter(member=w.responder).count() == 1
    # Rosa's membership stays; only the name of who vouched for her goes.
    assert Membership.objects.get(member=w.responder).vouched_by is None


def test_deleting_keeps_the_counts_that_name_nobody(w: World) -> None:
    delete(login(w.member))
    assert Alert.objects.get().targeted == 2


def test_a_wrong_confirmation_word_deletes_nothing(w: World) -> None:
    client = login(w.member)
    response = delete(client, "delete me")
    assert response.status_code == 400
    assert "Type DELETE exactly" in response.content.decode()
    assert Member.objects.filter(pk=w.member.pk).exists()
    assert client.get(reverse("me")).status_code == 200


def test_the_english_word_works_in_any_language(w: World) -> None:
    assert delete(login(w.responder), "DELETE").status_code == 200
    assert not Member.objects.filter(pk=w.responder.pk).exists()


def test_an_empty_confirmation_deletes_nothing(w: World) -> None:
    assert delete(login(w.member), "").status_code == 400
    assert Member.objects.filter(pk=w.member.pk).exists()


def test_the_confirmation_word_is_in_the_members_language(w: World) -> None:
    rosa = login(w.responder)  # Rosa reads Spanish
    page = rosa.get(reverse("my_data")).content.decode()
    assert "BORRAR" in page
    assert delete(rosa, "ELIMINAR").status_code == 400
    response = delete(rosa, "borrar")
    assert response.status_code == 200
    assert not Member.objects.filter(pk=w.responder.pk).exists()


def test_a_login_without_a_member_gets_404(w: World) -> None:
    user = User.objects.create_user(username="operator")
    client = Client()
    client.force_login(user)
    assert client.get(reverse("my_data")).status_code in (302, 404)
    assert client.post(reverse("delete_account"), {"confirm": "DELETE"}).status_code in (302, 404)
    assert User.objects.filter(pk=user.pk).exists()


def test_only_get_exports(w: World) -> None:
    assert login(w.member).post(reverse("export_data")).status_code == 405


def _relation_fields() -> list[models.Field]:
    return [
        f
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if f.is_relation and f.related_model in (Member, User)
    ]


def test_the_scan_sees_the_relations_it_should() -> None:
    names = {f"{f.model._meta.label}.{f.name}" for f in _relation_fields()}
    assert {"members.Member.user", "alerts.Delivery.member", "mobilize.Response.member"} <= names


@pytest.mark.django_db(transaction=True)
def test_after_the_next_purge_a_seized_sqlite_file_no_longer_holds_a_deleted_member() -> None:
    from pathlib import Path

    from django.db import connection

    from tocsin.retention.purge import purge

    if connection.vendor != "sqlite":
        pytest.skip("reads the SQLite file; PostgreSQL's VACUUM is tested in test_retention")
    w = world()
    name = f"Mateo-{time.time_ns()}"
    Member.objects.filter(pk=w.member.pk).update(display_name=name)
    w.member.refresh_from_db()
    path = Path(connection.settings_dict["NAME"])
    wal = path.with_name(path.name + "-wal")

    def file_bytes() -> bytes:
        return disk.read(path) + disk.read(wal)

    assert name.encode() in file_bytes()
    assert delete(login(w.member)).status_code == 200
    purge()
    assert name.encode() not in file_bytes()
