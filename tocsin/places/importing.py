"""Import a gazetteer from CSV or GeoJSON: every row checked first, then all or nothing.

CSV: a header row naming the columns ``name``, ``lat`` and ``lng`` (also ``latitude``,
``longitude``, ``lon``), optionally ``kind`` and ``name_es``; UTF-8. GeoJSON: a
FeatureCollection of Point features whose properties hold ``name`` (and optionally
``kind`` and ``name_es``). A place named like one the committee has already (whatever
the accents and case) is moved and renamed, not added twice, so importing a corrected
file again is safe.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from tocsin import geo
from tocsin.committees.models import Committee
from tocsin.lib import untrusted
from tocsin.places.models import NAME_MAX, Place, PlaceKind, fold

# A committee names the places its people use, not every building in town.
MAX_PLACES = 2000
_LAT = ("lat", "latitude")
_LNG = ("lng", "lon", "long", "longitude")


@dataclass
class Row:
    where: str  # "line 4" or "feature 2": how the organizer finds it in their file
    name: str
    lat: float
    lng: float
    kind: str = PlaceKind.OTHER
    name_es: str = ""


@dataclass
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class Rejected(Exception):
    """The file was not imported at all; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems[:5]))
        self.problems = problems


@dataclass
class Imported:
    added: int = 0
    updated: int = 0
    names: list[str] = field(default_factory=list)


def parse(data: bytes, filename: str = "") -> list[Row]:
    """Return the rows of a CSV or GeoJSON file, or raise Rejected saying where each
    problem is."""
    text = data.decode("utf-8-sig", errors="strict") if _is_utf8(data) else None
    if text is None:
        raise Rejected([Problem(_("file"), _("it is not UTF-8 text"))])
    stripped = text.lstrip()
    if filename.lower().endswith((".geojson", ".json")) or stripped.startswith("{"):
        return _parse_geojson(data)
    return _parse_csv(text)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return True


def _parse_csv(text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise Rejected([Problem(_("file"), _("it is empty"))]) from None
    except csv.Error as e:
        raise Rejected([Problem(_("line %(n)s") % {"n": 1}, str(e))]) from None
    columns = {name: i for i, name in enumerate(header) if name}
    lat_col = next((columns[c] for c in _LAT if c in columns), None)
    lng_col = next((columns[c] for c in _LNG if c in columns), None)
    if "name" not in columns or lat_col is None or lng_col is None:
        raise Rejected(
            [
                Problem(
                    _("line %(n)s") % {"n": 1},
                    _("the first line must name the columns name, lat and lng"),
                )
            ]
        )
    rows: list[Row] = []
    problems: list[Problem] = []
    try:
        for record in reader:
            where = _("line %(n)s") % {"n": reader.line_num}
            if not any(cell.strip() for cell in record):
                continue

            def cell(i: int | None, record: list[str] = record) -> str:
                return record[i].strip() if i is not None and i < len(record) else ""

            _collect(
                rows,
                problems,
                where,
                name=cell(columns["name"]),
                lat=cell(lat_col),
                lng=cell(lng_col),
                kind=cell(columns.get("kind")),
                name_es=cell(columns.get("name_es")),
            )
    except csv.Error as e:
        problems.append(Problem(_("line %(n)s") % {"n": reader.line_num}, str(e)))
    if problems:
        raise Rejected(problems)
    return rows


def _parse_geojson(data: bytes) -> list[Row]:
    try:
        doc = untrusted.load_json(data)
    except untrusted.NotJSON:
        raise Rejected([Problem(_("file"), _("it is neither CSV nor GeoJSON"))]) from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise Rejected([Problem(_("file"), _("a GeoJSON FeatureCollection was expected"))])
    rows: list[Row] = []
    problems: list[Problem] = []
    for number, feature in enumerate(features, start=1):
        where = _("feature %(n)s") % {"n": number}
        props = feature.get("properties") if isinstance(feature, dict) else None
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        props = props if isinstance(props, dict) else {}
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if (
            not isinstance(geometry, dict)
            or geometry.get("type") != "Point"
            or not isinstance(coords, list)
            or len(coords) < 2
        ):
            problems.append(Problem(where, _("only Point features can be places")))
            continue
        _collect(
            rows,
            problems,
            where,
            name=str(props.get("name") or "").strip(),
            # GeoJSON is longitude first.
            lat=str(coords[1]),
            lng=str(coords[0]),
            kind=str(props.get("kind") or "").strip(),
            name_es=str(props.get("name_es") or "").strip(),
        )
    if problems:
        raise Rejected(problems)
    return rows


def _collect(
    rows: list[Row],
    problems: list[Problem],
    where: str,
    *,
    name: str,
    lat: str,
    lng: str,
    kind: str,
    name_es: str,
) -> None:
    found = check(name=name, lat=lat, lng=lng, kind=kind, name_es=name_es)
    if isinstance(found, str):
        problems.append(Problem(where, found))
    else:
        found.where = where
        rows.append(found)


def check(*, name: str, lat: str, lng: str, kind: str = "", name_es: str = "") -> Row | str:
    """Return one place as a Row, or what is wrong with it (in the active language)."""
    name, name_es = " ".join(name.split()), " ".join(name_es.split())
    if not name:
        return _("the name is empty")
    if len(name) > NAME_MAX or len(name_es) > NAME_MAX:
        return _("a name is longer than %(n)s characters") % {"n": NAME_MAX}
    try:
        lat_f, lng_f = float(lat), float(lng)
    except ValueError:
        return _("the latitude and longitude must be numbers, like 34.0339 and -118.2107")
    if not geo.valid_latlng(lat_f, lng_f):
        return _("%(lat)s, %(lng)s is not a place on Earth") % {"lat": lat, "lng": lng}
    kind = (kind or PlaceKind.OTHER).strip().lower().replace(" ", "_").replace("-", "_")
    if kind not in PlaceKind.values:
        return _("unknown kind “%(kind)s” (use one of: %(kinds)s)") % {
            "kind": kind,
            "kinds": ", ".join(PlaceKind.values),
        }
    return Row("", name, round(lat_f, 6), round(lng_f, 6), kind, name_es)


def outside(committee: Committee, rows: list[Row]) -> list[Problem]:
    """Return a problem for each row outside the committee's area."""
    cells = committee.cells()
    if not cells:
        return [Problem(_("file"), _("draw the committee's area first"))]
    return [
        Problem(r.where, _("%(name)s is outside the committee's area") % {"name": r.name})
        for r in rows
        if geo.cell_at(r.lat, r.lng, settings.AREA_RESOLUTION) not in cells
    ]


def import_rows(committee: Committee, rows: list[Row]) -> Imported:
    """Add or update the committee's places from ``rows``: every row is checked first;
    any problem (a row outside the area, a name twice, too many places) rejects all."""
    problems = outside(committee, rows)
    seen: dict[str, str] = {}
    for r in rows:
        key = fold(r.name)
        if key in seen:
            problems.append(
                Problem(
                    r.where,
                    _("“%(name)s” is also on %(where)s") % {"name": r.name, "where": seen[key]},
                )
            )
        seen.setdefault(key, r.where)
    existing = {fold(p.name): p for p in committee.places.all()}
    new = [r for r in rows if fold(r.name) not in existing]
    if len(existing) + len(new) > MAX_PLACES:
        problems.append(
            Problem(
                _("file"),
                _("a committee can have at most %(n)s places") % {"n": MAX_PLACES},
            )
        )
    if problems:
        raise Rejected(problems)
    result = Imported()
    with transaction.atomic():
        for r in rows:
            place = existing.get(fold(r.name)) or Place(committee=committee)
            result.updated += place.pk is not None
            result.added += place.pk is None
            place.name, place.name_es, place.kind = r.name, r.name_es, r.kind
            place.lat, place.lng = r.lat, r.lng
            place.save()
            result.names.append(r.name)
    return result


def import_file(committee: Committee, data: bytes, filename: str = "") -> Imported:
    """Parse and import a CSV or GeoJSON file; raise Rejected with every problem."""
    return import_rows(committee, parse(data, filename))
