"""Demo data: a Los Angeles network with three committees and about 200 members.

Loaded once; running the demo again reuses it. Every address is under the reserved
.invalid domain, and messages go to the demo inbox.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, time, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tocsin import geo
from tocsin.committees.models import Committee, Duty, Invite, Membership, Role, Shift
from tocsin.incidents.models import ConfirmedBy, Incident, IncidentEvent, State
from tocsin.intake.models import Channel, Report, ReportKind
from tocsin.members.models import AlertArea, ContactEndpoint, Member
from tocsin.mobilize import rsvps
from tocsin.mobilize.models import Mobilization, MobilizationRole, RsvpMessage
from tocsin.places import importing
from tocsin.transports import registry as transports

COMMITTEES = [
    # slug, name, kind, centre, radius (m)
    (
        "boyle-heights",
        "Boyle Heights Rapid Response",
        Committee.Kind.NEIGHBORHOOD,
        (34.0339, -118.2107),
        2500,
    ),
    (
        "pico-union",
        "Pico-Union Defense Committee",
        Committee.Kind.NEIGHBORHOOD,
        (34.0467, -118.2830),
        2000,
    ),
    (
        "garment-workers",
        "Garment District Workers",
        Committee.Kind.WORKPLACE,
        (34.0395, -118.2530),
        1200,
    ),
]

PERSONAS = [
    # key, display name, email, committee slug, role, language, start page
    (
        "organizer",
        "Olga (organizer)",
        "organizer@demo.tocsin.invalid",
        "boyle-heights",
        Role.ORGANIZER,
        "en",
        "/c/boyle-heights/",
    ),
    (
        "dispatcher",
        "Diego (dispatcher)",
        "dispatcher@demo.tocsin.invalid",
        "boyle-heights",
        Role.DISPATCHER,
        "en",
        "/desk/",
    ),
    (
        "dispatcher2",
        "Dalia (despachadora)",
        "dispatcher2@demo.tocsin.invalid",
        "pico-union",
        Role.DISPATCHER,
        "es",
        "/desk/",
    ),
    (
        "responder",
        "Rosa (brigadista)",
        "responder@demo.tocsin.invalid",
        "boyle-heights",
        Role.RESPONDER,
        "es",
        "/me/",
    ),
    (
        "verifier",
        "Vero (verificadora)",
        "verifier@demo.tocsin.invalid",
        "boyle-heights",
        Role.VERIFIER,
        "es",
        "/me/",
    ),
    (
        "member",
        "Mateo (member)",
        "member@demo.tocsin.invalid",
        "boyle-heights",
        Role.MEMBER,
        "en",
        "/me/",
    ),
    # The legal team's lawyer on call: cases sealed to the demo's legal keyring
    # (tocsin.legal.keys.ensure_demo_keyring). Added to demo folders made before her too.
    (
        "legal",
        "Lucía (abogada)",
        "legal@demo.tocsin.invalid",
        "boyle-heights",
        Role.LEGAL,
        "es",
        "/legal/boyle-heights/",
    ),
]

# Fictional numbers (555-01xx is set aside for fiction in North America).
DEMO_HOTLINES = {
    "boyle-heights": ["+13235550111"],
    "pico-union": ["+12135550122"],
    "garment-workers": ["+12135550133"],
}

FIRST = [
    "Ana",
    "Luis",
    "Carmen",
    "José",
    "María",
    "Juan",
    "Lucía",
    "Pedro",
    "Elena",
    "Jorge",
    "Sofía",
    "Miguel",
    "Isabel",
    "Carlos",
    "Teresa",
    "Raúl",
    "Marta",
    "Andrés",
    "Rosa",
    "Tomás",
    "Kim",
    "Lee",
    "Sam",
    "Alex",
]


def persona_members() -> list[Member]:
    """Return the demo personas, each with .persona, .persona_label, .demo_email, .start."""
    out = []
    for key, _name, email, _slug, role, _lang, start in PERSONAS:
        ep = (
            ContactEndpoint.objects.filter(
                kind="email", blind_index=transports.blind_index("email", email)
            )
            .select_related("member")
            .first()
        )
        if ep is None:
            continue
        m = ep.member
        m.persona = key  # type: ignore[attr-defined]
        m.persona_label = Role(role).label  # type: ignore[attr-defined]
        m.demo_email = email  # type: ignore[attr-defined]
        m.start = start  # type: ignore[attr-defined]
        out.append(m)
    return out


def _jitter(rng: random.Random, center: tuple[float, float], spread: float) -> tuple[float, float]:
    return center[0] + rng.uniform(-spread, spread), center[1] + rng.uniform(-spread, spread)


@transaction.atomic
def load_demo(*, members: int = 200, seed: int = 7) -> bool:
    """Create the demo network unless it exists. Return whether it was created."""
    if Committee.objects.filter(slug="boyle-heights").exists():
        # A demo folder made before the gazetteer existed gets its places now, and one
        # whose planned mobilizations are over gets new ones.
        load_places()
        load_mobilizations()
        load_legal()
        return False
    rng = random.Random(seed)
    res = settings.AREA_RESOLUTION
    committees = {}
    for slug, name, kind, center, radius in COMMITTEES:
        c = Committee.objects.create(
            slug=slug,
            name=name,
            kind=kind,
            approved_at=timezone.now(),
            hotline_numbers=DEMO_HOTLINES.get(slug, []),
            # Listed, so a newcomer finds them at /committees/ and can ask to join.
            listed=True,
        )
        c.set_area(geo.cells_for_circle(*center, radius, res))
        committees[slug] = (c, center)
    people: list[Member] = []
    for key, name, email, slug, role, lang, _start in PERSONAS:
        if key == "legal":
            continue  # load_legal
        m = Member.create(display_name=name, language=lang)
        committee, center = committees[slug]
        # The organizer (first) vouches for the other personas, so they are trusted.
        voucher = people[0] if people else None
        Membership.objects.create(committee=committee, member=m, role=role, vouched_by=voucher)
        if key in ("responder", "verifier", "member"):
            AlertArea.objects.create(member=m, label="Home", cell=geo.cell_at(*center, res), ring=2)
        ContactEndpoint.create(m, "email", email, verified=True)
        if key == "verifier":
            # On duty for the demo's first month, so the desk suggests her.
            now = timezone.now()
            Shift.objects.create(
                committee=committee, member=m, starts_at=now, ends_at=now + timedelta(days=30)
            )
        if key == "dispatcher":
            # On call at the desk for the first half day; the coverage page shows the gap after.
            now = timezone.now()
            Shift.objects.create(
                committee=committee,
                member=m,
                duty=Duty.DISPATCHER,
                starts_at=now,
                ends_at=now + timedelta(hours=12),
            )
        if key == "responder":
            # A responder shift tomorrow evening, and an open slot after it to sign up for.
            evening = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
            for member in (m, None):
                Shift.objects.create(
                    committee=committee,
                    member=member,
                    duty=Duty.RESPONDER,
                    starts_at=evening,
                    ends_at=evening + timedelta(hours=4),
                )
                evening += timedelta(hours=4)
        people.append(m)
    organizer = people[0]
    for i in range(members - len(PERSONAS)):
        slug = rng.choice(list(committees))
        committee, center = committees[slug]
        m = Member.create(
            display_name=f"{rng.choice(FIRST)} {i + 1}", language=rng.choice(["es", "es", "en"])
        )
        role = rng.choices([Role.MEMBER, Role.RESPONDER], weights=[3, 1])[0]
        Membership.objects.create(committee=committee, member=m, role=role, vouched_by=organizer)
        for _ in range(rng.choice([1, 1, 2])):
            AlertArea.objects.create(
                member=m, cell=geo.cell_at(*_jitter(rng, center, 0.02), res), ring=rng.randint(0, 2)
            )
        ContactEndpoint.create(m, "email", f"member{i + 1:03d}@demo.tocsin.invalid", verified=True)
    for c, _center in committees.values():
        Invite.objects.create(committee=c, created_by=organizer)
    load_places()
    load_mobilizations()
    load_legal()
    _past_incidents(rng, committees["boyle-heights"][1], organizer)
    return True


def load_legal() -> bool:
    """Add the legal team's persona, on call as the lawyer for the demo's first month,
    unless she is there. Return whether she was added."""
    [(_key, name, email, slug, role, lang, _start)] = [p for p in PERSONAS if p[0] == "legal"]
    if ContactEndpoint.objects.filter(
        kind="email", blind_index=transports.blind_index("email", email)
    ).exists():
        return False
    committee = Committee.objects.get(slug=slug)
    organizer = (
        Membership.objects.filter(committee=committee, role=Role.ORGANIZER)
        .order_by("pk")
        .values_list("member", flat=True)
        .first()
    )
    m = Member.create(display_name=name, language=lang)
    Membership.objects.create(committee=committee, member=m, role=role, vouched_by_id=organizer)
    ContactEndpoint.create(m, "email", email, verified=True)
    now = timezone.now()
    Shift.objects.create(
        committee=committee,
        member=m,
        duty=Duty.LAWYER,
        starts_at=now,
        ends_at=now + timedelta(days=30),
    )
    return True


# Public places only, written for the demo (names and approximate points from general
# knowledge of the neighbourhoods, not a copied data set).
PLACES_FILE = Path(__file__).with_name("places.csv")


def load_places() -> int:
    """Import the demo's named places into each demo committee that has none yet; return
    how many were added."""
    rows: dict[str, list[importing.Row]] = {}
    with PLACES_FILE.open(encoding="utf-8", newline="") as f:
        for line, record in enumerate(csv.DictReader(f), start=2):
            found = importing.check(
                name=record["name"],
                name_es=record["name_es"],
                kind=record["kind"],
                lat=record["lat"],
                lng=record["lng"],
            )
            if isinstance(found, str):
                raise ValueError(f"{PLACES_FILE.name} line {line}: {found}")
            found.where = f"line {line}"
            rows.setdefault(record["committee"], []).append(found)
    added = 0
    for slug, places in rows.items():
        committee = Committee.objects.filter(slug=slug).first()
        if committee is not None and not committee.places.exists():
            added += importing.import_rows(committee, places).added
    return added


# Upcoming mobilizations: committee, kind, English and Spanish titles, Spanish and English
# descriptions, days from today, local start hour, hours long, place name prefix, roles,
# visibility, people signed up.
MOBILIZATIONS = [
    (
        "boyle-heights",
        "vigil",
        "Vigil for the families of Soto Street",
        "Vigilia por las familias de la calle Soto",
        "Bring a candle and your neighbours. Observe, document, support.",
        "Traiga una vela y a sus vecinos. Observe, documente, apoye.",
        2,
        19,
        2,
        "Mariachi Plaza",
        {"marshal": 4, "interpreter": 2, "medic": 1},
        "public",
        14,
    ),
    (
        "pico-union",
        "kyr_training",
        "",
        "Taller: conozca sus derechos",
        "",
        "Qué hacer si llegan agentes a su casa o a su trabajo. Con abogados voluntarios.",
        4,
        18,
        2,
        "",
        {"childcare": 2, "interpreter": 1},
        "public",
        9,
    ),
    (
        "garment-workers",
        "accompaniment",
        "Court accompaniment for a coworker",
        "Acompañamiento a la corte para un compañero",
        "We walk with him to his hearing and wait outside. Legal observers welcome.",
        "Lo acompañamos a su audiencia y esperamos afuera. Bienvenidos observadores legales.",
        6,
        8,
        3,
        "",
        {"legal_observer": 2, "driver": 2},
        "public",
        5,
    ),
    (
        "boyle-heights",
        "responder_training",
        "Responder training",
        "Capacitación de brigadistas",
        "For members who want to respond: witnessing, documenting, staying safe.",
        "Para miembros que quieren ser brigadistas: atestiguar, documentar, cuidarse.",
        9,
        10,
        3,
        "",
        {},
        "members",
        6,
    ),
]


def load_mobilizations() -> int:
    """Publish the demo's upcoming mobilizations, with people signed up, unless some are
    still ahead; return how many were added."""
    if Mobilization.objects.upcoming().exists():
        return 0
    tz = rsvps.zone()
    today = timezone.now().astimezone(tz).date()
    created: list[int] = []
    for (
        slug, kind, title, title_es, description, description_es, days, hour, hours,
        place_name, roles, visibility, people,
    ) in MOBILIZATIONS:  # fmt: skip
        committee = Committee.objects.filter(slug=slug).first()
        if committee is None:
            continue
        place = committee.places.filter(name__startswith=place_name).first() if place_name else None
        if place is None:
            place = committee.places.exclude(kind="area").order_by("pk").first()
        start = datetime.combine(today + timedelta(days=days), time(hour), tz)
        organizer = committee.memberships.filter(role=Role.ORGANIZER).first()
        m = Mobilization.objects.create(
            committee=committee,
            kind=kind,
            title=title,
            title_es=title_es,
            description=description,
            description_es=description_es,
            starts_at=start,
            ends_at=start + timedelta(hours=hours),
            place=place,
            address="" if place is not None else committee.name,
            visibility=visibility,
            created_by=organizer.member if organizer is not None else None,
        )
        made = {
            k: MobilizationRole.objects.create(mobilization=m, kind=k, capacity=n)
            for k, n in roles.items()
        }
        members = list(Member.objects.filter(memberships__committee=committee).order_by("pk"))
        for i, member in enumerate(members[:people]):
            role = list(made.values())[i % len(made)] if made and i % 3 == 0 else None
            rsvps.sign_up(m, member=member, language=member.language, role=role)
        created.append(m.pk)
    # The confirmations went out when these people signed up, long before the demo began.
    RsvpMessage.objects.filter(
        purpose=RsvpMessage.Purpose.CONFIRMATION, rsvp__mobilization__in=created
    ).update(status=RsvpMessage.Status.SENT, sent_at=timezone.now())
    return len(created)


def _past_incidents(rng: random.Random, center: tuple[float, float], actor: Member) -> None:
    """Incidents from the last days: resolved and confirmed ones the public map shows
    (confirmed long before its delay), and a false alarm it never shows."""
    now = timezone.now()
    past = [
        (ReportKind.CHECKPOINT, State.RESOLVED, 3, ConfirmedBy.VERIFIER),
        (ReportKind.AGENTS_SEEN, State.UNFOUNDED, 2, ""),
        (ReportKind.WORKPLACE_RAID, State.RESOLVED, 1, ConfirmedBy.DISPATCHER),
        (ReportKind.AGENTS_SEEN, State.CONFIRMED, 0, ConfirmedBy.QUORUM),
    ]
    for kind, state, days, confirmed_by in past:
        when = now - timedelta(days=days, hours=rng.randint(3, 8))
        cell = geo.cell_at(*_jitter(rng, center, 0.01), geo.REPORT_RESOLUTION)
        area_cell = geo.parent(cell, settings.AREA_RESOLUTION)
        closed = state in (State.RESOLVED, State.UNFOUNDED)
        incident = Incident.objects.create(
            kind=kind,
            state=state,
            cell=cell,
            area_cell=area_cell,
            opened_at=when,
            first_seen_at=when,
            last_seen_at=when,
            confirmed_at=when + timedelta(minutes=9) if confirmed_by else None,
            confirmed_by=confirmed_by,
            confirmed_sources=3 if confirmed_by == ConfirmedBy.QUORUM else 0,
            closed_at=when + timedelta(hours=2) if closed else None,
            updated_at=when + timedelta(hours=2),
        )
        reports = rng.randint(1, 3)
        incident.last_seen_at = when + timedelta(minutes=reports - 1)
        incident.save(update_fields=["last_seen_at"])
        owners = Committee.objects.covering(area_cell)
        incident.committees.set(owners)
        for n in range(reports):
            Report.objects.create(
                channel=rng.choice([Channel.WEB, Channel.WEB, Channel.HOTLINE]),
                kind=kind,
                cell=cell,
                area_cell=area_cell,
                received_at=when + timedelta(minutes=n),
                incident=incident,
            ).committees.set(owners)
        IncidentEvent.objects.create(incident=incident, at=when, actor=actor, action="opened")
        IncidentEvent.objects.create(
            incident=incident,
            at=when + (timedelta(hours=2) if closed else timedelta(minutes=9)),
            actor=actor,
            action=state,
        )
