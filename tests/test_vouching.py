"""Vouching: personal invites, the vouching tree, cutting a branch, and trust."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import World
from tocsin.committees import trust as t
from tocsin.committees.models import Invite, Membership, Role, VouchingEvent
from tocsin.members.models import ContactEndpoint, Member


def login(member: Member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def page(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def vouched(w: World, name: str, by: Member, role: str = Role.MEMBER) -> Member:
    """Return a new East member who joined on ``by``'s word."""
    m = Member.create(display_name=name, language="en")
    Membership.objects.create(committee=w.east, member=m, role=role, vouched_by=by)
    return m


def is_member(w: World, member: Member) -> bool:
    return Membership.objects.filter(committee=w.east, member=member).exists()


def membership(w: World, member: Member) -> Membership:
    return Membership.objects.get(committee=w.east, member=member)


# Personal invites and joining.


def test_a_responder_makes_a_single_use_personal_invite(w: World) -> None:
    response = login(w.responder).post(reverse("committee_vouch", args=["east"]))
    assert response.status_code == 302
    invite = Invite.objects.get(created_by=w.responder)
    assert (invite.personal, invite.max_uses, invite.role) == (True, 1, Role.MEMBER)
    shown = login(w.responder).get(reverse("committee_vouch", args=["east"]))
    assert invite.token in page(shown)


def test_joining_through_a_personal_invite_records_the_voucher(w: World) -> None:
    login(w.dispatcher).post(reverse("committee_vouch", args=["east"]))
    invite = Invite.objects.get(created_by=w.dispatcher)
    client = Client()
    client.post(reverse("join", args=[invite.token]), {"display_name": "Nina", "language": "en"})
    nina = Member.objects.get(display_name="Nina")
    assert membership(w, nina).vouched_by_id == w.dispatcher.pk
    # It works once: a second person cannot use the same word.
    assert Client().get(reverse("join", args=[invite.token])).status_code == 404


def test_an_existing_member_joining_records_the_voucher(w: World) -> None:
    login(w.responder).post(reverse("committee_vouch", args=["east"]))
    invite = Invite.objects.get(created_by=w.responder)
    login(w.outsider).post(reverse("join", args=[invite.token]))
    assert membership(w, w.outsider).vouched_by_id == w.responder.pk


@pytest.mark.parametrize("persona", ["member", "outsider", "west_organizer"])
def test_only_responders_and_above_make_personal_invites(w: World, persona: str) -> None:
    client = login(getattr(w, persona))
    assert client.get(reverse("committee_vouch", args=["east"])).status_code == 404
    assert client.post(reverse("committee_vouch", args=["east"])).status_code == 404
    assert not Invite.objects.filter(personal=True).exists()


def test_personal_invites_stop_at_the_weekly_limit(w: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.VOUCH_INVITES_PER_WEEK = 2
    client = login(w.dispatcher)
    for _ in range(3):
        client.post(reverse("committee_vouch", args=["east"]))
    assert Invite.objects.filter(created_by=w.dispatcher, personal=True).count() == 2
    shown = page(client.get(reverse("committee_vouch", args=["east"])))
    assert "You made 2 invites this week already" in shown
    assert 'id="make-invite"' not in shown


def test_the_limit_is_per_member(w: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.VOUCH_INVITES_PER_WEEK = 1
    login(w.responder).post(reverse("committee_vouch", args=["east"]))
    login(w.dispatcher).post(reverse("committee_vouch", args=["east"]))
    assert Invite.objects.filter(personal=True).count() == 2


def test_replacing_the_shared_link_keeps_personal_invites(w: World) -> None:
    login(w.responder).post(reverse("committee_vouch", args=["east"]))
    login(w.organizer).post(reverse("committee_invite", args=["east"]))
    assert Invite.objects.get(created_by=w.responder).usable()


def test_the_invite_page_is_in_spanish(w: World) -> None:
    client = login(w.responder)
    shown = page(client.get(reverse("committee_vouch", args=["east"]), HTTP_ACCEPT_LANGUAGE="es"))
    assert "Invitar a alguien de confianza" in shown


# The tree.


def test_the_tree_shows_who_vouched_for_whom_to_the_organizer(w: World) -> None:
    nina = vouched(w, "Nina", w.organizer)
    vouched(w, "Pablo", nina)
    shown = page(login(w.organizer).get(reverse("committee_vouching", args=["east"])))
    assert shown.index("Olga") < shown.index("Nina") < shown.index("Pablo")
    assert "trust 88/100" in shown
    assert "2 steps from an organizer" in shown


@pytest.mark.parametrize("persona", ["member", "responder", "dispatcher", "west_organizer"])
def test_the_tree_is_for_this_committees_organizers_only(w: World, persona: str) -> None:
    response = login(getattr(w, persona)).get(reverse("committee_vouching", args=["east"]))
    assert response.status_code == 404


def test_the_tree_marks_a_removed_voucher(w: World) -> None:
    nina = vouched(w, "Nina", w.organizer)
    vouched(w, "Pablo", nina)
    login(w.organizer).post(
        reverse("committee_role", args=["east", membership(w, nina).pk]), {"role": "remove"}
    )
    shown = page(login(w.organizer).get(reverse("committee_vouching", args=["east"])))
    assert "<del>Nina</del>" in shown
    assert "removed from the committee" in shown
    assert "voucher removed" in shown


# Cutting a branch.


@pytest.fixture
def branches(w: World) -> dict[str, Member]:
    """Olga vouched for Ivan (an infiltrator) and for Nina; Ivan brought in Pablo, who
    brought in Quique, and Ivan also brought in Zoe, an organizer, who brought in Uma."""
    ivan = vouched(w, "Ivan", w.organizer)
    pablo = vouched(w, "Pablo", ivan)
    quique = vouched(w, "Quique", pablo, Role.RESPONDER)
    zoe = vouched(w, "Zoe", ivan, Role.ORGANIZER)
    uma = vouched(w, "Uma", zoe)
    nina = vouched(w, "Nina", w.organizer)
    return {"ivan": ivan, "pablo": pablo, "quique": quique, "zoe": zoe, "uma": uma, "nina": nina}


def cut_url(w: World, member: Member) -> str:
    return reverse("committee_cut_branch", args=["east", membership(w, member).pk])


def test_the_confirmation_lists_the_branch(w: World, branches: dict[str, Member]) -> None:
    shown = page(login(w.organizer).get(cut_url(w, branches["ivan"])))
    assert "3 people will be removed" in shown
    for name in ("Ivan", "Pablo", "Quique"):
        assert name in shown
    assert "Nina" not in shown
    # Organizers, and those below them, are listed apart, behind a checkbox.
    organizers = shown[shown.index('id="organizers"') :]
    assert "Zoe" in organizers and "Uma" in organizers
    assert 'name="include_organizers"' in shown
    assert is_member(w, branches["ivan"])


def test_cutting_removes_the_branch_and_ends_their_sessions(
    w: World, branches: dict[str, Member]
) -> None:
    ContactEndpoint.create(
        branches["quique"], "webpush", "https://push.example/q", data={"keys": {}}, verified=True
    )
    quique_client = login(branches["quique"])
    assert quique_client.get(reverse("me")).status_code == 200
    response = login(w.organizer).post(cut_url(w, branches["ivan"]))
    assert response["Location"] == reverse("committee_vouching", args=["east"])
    for name in ("ivan", "pablo", "quique"):
        assert not is_member(w, branches[name]), name
    assert quique_client.get(reverse("me")).status_code == 302
    assert not ContactEndpoint.objects.filter(member=branches["quique"], kind="webpush").exists()


def test_cutting_leaves_other_branches_and_organizers(
    w: World, branches: dict[str, Member]
) -> None:
    login(w.organizer).post(cut_url(w, branches["ivan"]))
    for m in (branches["nina"], branches["zoe"], branches["uma"], w.organizer, w.member):
        assert is_member(w, m), m.display_name


def test_organizers_in_the_branch_go_only_with_the_checkbox(
    w: World, branches: dict[str, Member]
) -> None:
    login(w.organizer).post(cut_url(w, branches["ivan"]), {"include_organizers": "1"})
    for name in ("ivan", "pablo", "quique", "zoe", "uma"):
        assert not is_member(w, branches[name]), name
    assert is_member(w, branches["nina"])
    assert VouchingEvent.objects.get().target_count == 5


def test_an_organizer_alone_needs_the_checkbox(w: World, branches: dict[str, Member]) -> None:
    response = login(w.organizer).post(cut_url(w, branches["zoe"]))
    assert response.status_code == 302
    assert is_member(w, branches["zoe"]) and is_member(w, branches["uma"])
    assert not VouchingEvent.objects.exists()


def test_the_organizer_cutting_is_never_removed(w: World) -> None:
    # Diego vouched for Olga (she came back); Olga cuts Diego's branch.
    Membership.objects.filter(committee=w.east, member=w.organizer).update(vouched_by=w.dispatcher)
    login(w.organizer).post(cut_url(w, w.dispatcher), {"include_organizers": "1"})
    assert not is_member(w, w.dispatcher)
    assert is_member(w, w.organizer)


def test_cutting_writes_the_audit_trail(w: World, branches: dict[str, Member]) -> None:
    login(w.organizer).post(cut_url(w, branches["ivan"]))
    event = VouchingEvent.objects.get()
    assert (event.committee_id, event.actor_id, event.root_id) == (
        w.east.pk,
        w.organizer.pk,
        branches["ivan"].pk,
    )
    assert (event.action, event.target_count) == ("cut_branch", 3)
    shown = page(login(w.organizer).get(reverse("committee_vouching", args=["east"])))
    assert "Olga cut the branch of Ivan: 3 people removed." in shown


def test_a_removed_members_invites_stop_working(w: World) -> None:
    login(w.responder).post(reverse("committee_vouch", args=["east"]))
    invite = Invite.objects.get(created_by=w.responder)
    login(w.organizer).post(cut_url(w, w.responder))
    assert Client().get(reverse("join", args=[invite.token])).status_code == 404


@pytest.mark.parametrize("persona", ["member", "dispatcher", "west_organizer"])
def test_only_this_committees_organizers_cut(
    w: World, branches: dict[str, Member], persona: str
) -> None:
    client = login(getattr(w, persona))
    assert client.get(cut_url(w, branches["ivan"])).status_code == 404
    assert client.post(cut_url(w, branches["ivan"])).status_code == 404
    assert is_member(w, branches["ivan"])


def test_a_membership_of_another_committee_cannot_be_cut(w: World) -> None:
    west = Membership.objects.get(committee=w.west, member=w.west_dispatcher)
    url = reverse("committee_cut_branch", args=["east", west.pk])
    assert login(w.organizer).post(url).status_code == 404
    assert Membership.objects.filter(pk=west.pk).exists()


# Trust.


def test_trust_is_highest_next_to_an_organizer(w: World, branches: dict[str, Member]) -> None:
    olga = t.trust(w.organizer, w.east)
    ivan = t.trust(branches["ivan"], w.east)
    pablo = t.trust(branches["pablo"], w.east)
    assert olga.score == 100 and olga.depth == 0
    assert olga.score > ivan.score > pablo.score
    assert (ivan.depth, pablo.depth) == (1, 2)
    assert olga.accuracy is None


def test_trust_falls_when_the_voucher_is_removed(w: World, branches: dict[str, Member]) -> None:
    before = t.trust(branches["pablo"], w.east)
    login(w.organizer).post(
        reverse("committee_role", args=["east", membership(w, branches["ivan"]).pk]),
        {"role": "remove"},
    )
    after = t.trust(branches["pablo"], w.east)
    assert after.score < before.score
    assert not after.voucher_in_good_standing
    assert t.trust(branches["quique"], w.east).score <= after.score


def test_trust_of_someone_outside_the_committee_is_zero(w: World) -> None:
    assert t.trust(w.outsider, w.east).score == 0


def test_accuracy_counts_blend_in_when_given(w: World, branches: dict[str, Member]) -> None:
    plain = t.trust(branches["pablo"], w.east)
    good = t.trust(branches["pablo"], w.east, accuracy=t.Accuracy(confirmed=20, refuted=0))
    bad = t.trust(branches["pablo"], w.east, accuracy=t.Accuracy(confirmed=0, refuted=20))
    assert bad.score < plain.score < good.score
    assert good.accuracy is not None and good.accuracy > 90


link = st.fixed_dictionaries(
    {
        "is_organizer": st.booleans(),
        "has_voucher": st.booleans(),
        "voucher_in_good_standing": st.booleans(),
        "voucher_score": st.none() | st.integers(0, 100),
        "depth": st.none() | st.integers(0, 20),
        "accuracy": st.none()
        | st.builds(t.Accuracy, confirmed=st.integers(0, 50), refuted=st.integers(0, 50)),
    }
)


@given(link, st.integers(0, 20))
def test_a_deeper_chain_never_raises_trust(kwargs: dict, extra: int) -> None:  # type: ignore[type-arg]
    shallow = t.score_link(**kwargs)
    deeper_depth = None if kwargs["depth"] is None else kwargs["depth"] + extra
    deeper = t.score_link(**{**kwargs, "depth": deeper_depth})
    unreached = t.score_link(**{**kwargs, "depth": None})
    assert deeper.score <= shallow.score
    assert unreached.score <= shallow.score
    assert 0 <= shallow.score <= 100


@given(link)
def test_losing_the_voucher_never_raises_trust(kwargs: dict) -> None:  # type: ignore[type-arg]
    standing = t.score_link(**{**kwargs, "has_voucher": True})
    removed = t.score_link(**{**kwargs, "has_voucher": True, "voucher_in_good_standing": False})
    assert removed.score <= standing.score


@given(link, st.integers(0, 100))
def test_a_less_trusted_voucher_never_raises_trust(kwargs: dict, lower: int) -> None:  # type: ignore[type-arg]
    if kwargs["voucher_score"] is None:
        return
    low = min(lower, kwargs["voucher_score"])
    assert t.score_link(**{**kwargs, "voucher_score": low}).score <= t.score_link(**kwargs).score


@st.composite
def committees(draw: st.DrawFn) -> dict[int, t.Node]:
    """A committee of up to 25 members; each vouched by anyone (loops included), by nobody,
    or by a member id outside the committee (a voucher already removed)."""
    size = draw(st.integers(1, 25))
    nodes = {}
    for i in range(size):
        voucher = draw(st.none() | st.integers(0, size + 2))
        nodes[i] = t.Node(is_organizer=draw(st.booleans()), vouched_by=voucher)
    return nodes


@given(committees(), st.data())
def test_removing_a_member_never_raises_anyones_trust(
    nodes: dict[int, t.Node], data: st.DataObject
) -> None:
    removed = data.draw(st.sampled_from(sorted(nodes)))
    before = t.score_tree(nodes)
    after = t.score_tree({k: v for k, v in nodes.items() if k != removed})
    for member_id, trust in after.items():
        assert trust.score <= before[member_id].score, (member_id, removed)


@given(committees())
def test_every_score_is_between_0_and_100(nodes: dict[int, t.Node]) -> None:
    assert all(0 <= trust.score <= 100 for trust in t.score_tree(nodes).values())


def test_the_invite_qr_code_is_an_svg_an_img_can_draw(w: World) -> None:
    """Served as a file for <img>, the SVG needs its namespace (segno's svg_inline, made
    for pasting into HTML, leaves it out and the picture stays blank)."""
    from xml.etree import ElementTree

    organizer = login(w.organizer)
    organizer.post(reverse("committee_invite", args=["east"]))
    response = organizer.get(reverse("committee_invite_qr", args=["east"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
