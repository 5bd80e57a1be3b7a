"""A committee's gazetteer: the public places its people name when they say where.

Organizers curate it (the workplaces they organize, schools, stores, car washes,
day-labor corners, transit stops, intersections, the neighbourhoods themselves). Every
place is public by design: a reporter's search shows it to anyone, and alerts name it.
Never a member's home.
"""

from __future__ import annotations

import math
import unicodedata

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.geo.describe import Named

NAME_MAX = 80


class PlaceKind(models.TextChoices):
    INTERSECTION = "intersection", _("Intersection")
    WORKPLACE = "workplace", _("Workplace")
    SCHOOL = "school", _("School")
    STORE = "store", _("Store")
    CAR_WASH = "car_wash", _("Car wash")
    CORNER = "corner", _("Day-labor corner")
    TRANSIT = "transit", _("Transit stop or station")
    PARK = "park", _("Park or plaza")
    WORSHIP = "worship", _("Place of worship")
    CLINIC = "clinic", _("Clinic or hospital")
    COURT = "court", _("Courthouse or government office")
    # A neighbourhood or district: names a report only when no spot is near.
    AREA = "area", _("Neighborhood or area")
    OTHER = "other", _("Other public place")


def fold(text: str) -> str:
    """Return ``text`` for searching: no accents, no case, single spaces ("César" ->
    "cesar"), and "&" and "y"/"and" kept as words so "Soto & 1st" finds "Soto and 1st"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = plain.replace("&", " and ")
    words = "".join(c if c.isalnum() else " " for c in plain).split()
    return " ".join("and" if w == "y" else w for w in words)


class PlaceQuerySet(models.QuerySet["Place"]):
    def for_committees(self, committee_ids: set[int] | list[int]) -> PlaceQuerySet:
        return self.filter(committee_id__in=committee_ids)

    def around(self, lat: float, lng: float, metres: float) -> PlaceQuerySet:
        """Return the places in a box reaching ``metres`` around the point (a cheap first
        cut; callers measure the real distance)."""
        dlat = metres / 111_000
        dlng = dlat / max(0.05, abs(math.cos(math.radians(lat))))
        return self.filter(
            lat__gte=lat - dlat, lat__lte=lat + dlat, lng__gte=lng - dlng, lng__lte=lng + dlng
        )

    def matching(self, query: str) -> PlaceQuerySet:
        """Return the places whose name (English or Spanish) holds every word of ``query``,
        whatever the accents and case."""
        qs = self
        for word in fold(query).split()[:8]:
            qs = qs.filter(search_text__contains=word)
        return qs

    def named(self) -> list[Named]:
        return [
            Named(name, lat, lng, name_es, kind == PlaceKind.AREA)
            for name, name_es, lat, lng, kind in self.values_list(
                "name", "name_es", "lat", "lng", "kind"
            )
        ]


class Place(models.Model):
    committee = models.ForeignKey("committees.Committee", models.CASCADE, related_name="places")
    name = models.CharField(
        _("name"),
        max_length=NAME_MAX,
        help_text=_("As people say it: “Car wash, Cesar Chavez & Soto”."),
    )
    name_es = models.CharField(
        _("name in Spanish, if it differs"), max_length=NAME_MAX, blank=True, default=""
    )
    kind = models.CharField(
        _("kind"), max_length=20, choices=PlaceKind.choices, default=PlaceKind.OTHER
    )
    # A public place's point, as the organizer placed it (never a person's home).
    lat = models.FloatField(_("latitude"))
    lng = models.FloatField(_("longitude"))
    # Both names folded (no accents, no case), what the search reads.
    search_text = models.CharField(max_length=2 * NAME_MAX + 1, editable=False, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = PlaceQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["committee", "lat"], name="place_committee_lat")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.prepare()
        super().save(*args, **kwargs)

    def prepare(self) -> None:
        """Fill in what is derived from the fields (bulk_create does not call save)."""
        self.search_text = fold(f"{self.name} {self.name_es}")
        self.updated_at = timezone.now()

    def named(self) -> Named:
        return Named(self.name, self.lat, self.lng, self.name_es, self.kind == PlaceKind.AREA)

    def said(self) -> str:
        return self.named().said()
