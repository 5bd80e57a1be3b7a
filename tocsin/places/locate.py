"""Place a text: the phrases tocsin.places.wording found, resolved to one spot, a choice,
or nothing.

In this order, the first that gives an answer:

0. a point the phone shared (Telegram's location, Signal's maps link), inside the areas;
1. a corner ("Soto y 4th"): the committees' named places whose names hold both streets,
   then the operator's geocoder ("4th & Soto");
2. an address ("1234 E Cesar Chavez Ave"): the geocoder;
3. a named place ("the car wash on Cesar Chavez"): the gazetteer name whose words the
   text holds best (two or more of them, or all of a one-word name);
4. a ZIP code alone is too wide to send anyone to: it narrows the question, never
   answers it.

Two spots that fit equally well are a choice for the reporter ("Did you mean 1) … 2) …"),
never a guess. A geocoder's answer counts only inside the committees' areas. ``near`` (a
member's saved area) orders choices; it is never the place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

from tocsin import geo
from tocsin.committees.models import Committee
from tocsin.geo.describe import metres
from tocsin.lib import geocode
from tocsin.places.models import Place, fold
from tocsin.places.wording import Wording

logger = logging.getLogger(__name__)

# At most this many choices are offered (each must fit a text message).
MAX_CHOICES = 3
# Words too common in place names to pick one out by themselves.
_COMMON = {"and", "the", "st", "ave", "street", "avenue", "blvd", "de", "la", "el", "los"}


@dataclass(frozen=True)
class Spot:
    name: str
    lat: float
    lng: float


@dataclass(frozen=True)
class Located:
    """One spot, or the choices to ask about, or neither (ask where)."""

    spot: Spot | None = None
    choices: tuple[Spot, ...] = ()


NOWHERE = Located()


def _inside(committee_ids: set[int], lat: float, lng: float) -> bool:
    if not geo.valid_latlng(lat, lng):
        return False
    cell = geo.cell_at(lat, lng, settings.AREA_RESOLUTION)
    return bool(set(Committee.objects.covering(cell).ids()) & committee_ids)


def _ordered(spots: list[Spot], near: tuple[float, float] | None) -> list[Spot]:
    unique = list(dict.fromkeys(spots))
    if near is not None:
        unique.sort(key=lambda s: metres(near, (s.lat, s.lng)))
    return unique


def _answer(spots: list[Spot], near: tuple[float, float] | None) -> Located:
    spots = _ordered(spots, near)
    if len(spots) == 1:
        return Located(spot=spots[0])
    if spots:
        return Located(choices=tuple(spots[:MAX_CHOICES]))
    return NOWHERE


def _spot(place: Place) -> Spot:
    return Spot(place.said(), place.lat, place.lng)


def _places(committee_ids: set[int]) -> list[Place]:
    return list(Place.objects.for_committees(committee_ids)[:5000])


def _words(text: str) -> set[str]:
    return set(fold(text).split())


def _by_corner(wording: Wording, places: list[Place]) -> list[Spot]:
    for corner in wording.corners:
        first, second = (set(f.split()) - _COMMON for f in corner.folded())
        if not first or not second:
            continue
        found = [_spot(p) for p in places if first | second <= _words(p.search_text)]
        if found:
            return found
    return []


def _by_name(wording: Wording, places: list[Place]) -> list[Spot]:
    """The places whose names the text says best: two or more of a name's words, all of
    a one-word name, or one word that no other place's name has ("Roosevelt")."""
    said = set(wording.words) - _COMMON
    if not said:
        return []
    names = [
        (p, words)
        for p in places
        for words in (_words(p.name) - _COMMON, _words(p.name_es) - _COMMON)
        if words
    ]
    owners: dict[str, set[int]] = {}
    for p, words in names:
        for w in words:
            owners.setdefault(w, set()).add(p.pk)
    best, found = 0.0, {}
    for p, words in names:
        hits = words & said
        enough = len(hits) >= min(2, len(words)) or any(
            len(w) >= 4 and not w.isdigit() and owners[w] == {p.pk} for w in hits
        )
        if not hits or not enough:
            continue
        score = len(hits) + len(hits) / len(words)
        if score > best:
            best, found = score, {p.pk: _spot(p)}
        elif score == best:
            found[p.pk] = _spot(p)
    return list(found.values())


def _geocoded(query: str, committee_ids: set[int]) -> list[Spot]:
    if not geocode.enabled():
        return []
    try:
        results = geocode.search(query)
    except geocode.GeocoderError as e:
        logger.warning("geocoder unavailable for a text report: %s", e)
        return []
    return [Spot(r.label, r.lat, r.lng) for r in results if _inside(committee_ids, r.lat, r.lng)]


def locate(
    wording: Wording, committee_ids: set[int], *, near: tuple[float, float] | None = None
) -> Located:
    """Return where ``wording`` says, among ``committee_ids``' places and areas."""
    if not committee_ids or wording.empty:
        return NOWHERE
    for lat, lng in wording.points:
        # A location the phone shared is the place, if a committee covers it.
        if _inside(committee_ids, lat, lng):
            return Located(spot=Spot("", lat, lng))
    places = _places(committee_ids)
    spots = _by_corner(wording, places)
    if spots:
        return _answer(spots, near)
    for corner in wording.corners:
        spots = _geocoded(corner.said(), committee_ids)
        if spots:
            return _answer(spots[:1], near)
    for address in wording.addresses:
        spots = _geocoded(address, committee_ids)
        if spots:
            return _answer(spots[:1], near)
    spots = _by_name(wording, places)
    if spots:
        return _answer(spots, near)
    return NOWHERE


def choose(located: Located, answer: str) -> Spot | None:
    """Return the choice a reply picks ("2", "2)", "the second"), or None."""
    digits = "".join(c for c in answer.strip()[:4] if c.isdigit())
    if digits and 1 <= int(digits) <= len(located.choices):
        return located.choices[int(digits) - 1]
    return None
