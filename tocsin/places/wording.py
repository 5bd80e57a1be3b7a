"""Where a text says something is happening: the place phrases in a report typed on a phone.

A text from a flip phone ("checkpoint at Soto y 4th", "migra en el car wash de Cesar
Chavez", "90033 agents at the school") names its place the way people say it: cross
streets, a place everyone knows, an address, a ZIP code. :func:`read` finds those phrases;
it is pure (no database, no network) and total: any text gives a :class:`Wording`, never
an error. tocsin.places.locate resolves the phrases against the committee's gazetteer and
the operator's geocoder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tocsin.places.models import fold

# The most of a text that is read (an SMS concatenated from ten segments is 1,530).
MAX_TEXT = 1600

# Words that join two streets of a corner, in English and Spanish.
_JOINS = {"&", "and", "y", "e", "con", "/", "@", "x"}
# Words that end a street name when read outwards from the join: they belong to the
# sentence, not to the street.
_STOP = {
    "a",
    "al",
    "an",
    "are",
    "at",
    "by",
    "cerca",
    "checkpoint",
    "corner",
    "de",
    "del",
    "el",
    "en",
    "esquina",
    "esta",
    "estan",
    "hay",
    "in",
    "is",
    "la",
    "las",
    "los",
    "near",
    "of",
    "on",
    "por",
    "retén",
    "reten",
    "the",
    "there",
    "they",
    "un",
    "una",
    "with",
    "aqui",
    "here",
    "migra",
    "ice",
    "agents",
    "agentes",
    "raid",
    "redada",
    "van",
    "vans",
    "now",
    "ahora",
    "report",
    "reporte",
    "reportar",
    "between",
    "entre",
    "from",
    "desde",
    "to",
    "frente",
    "front",
    "outside",
    "afuera",
    "inside",
    "dentro",
    "sobre",
    "we",
    "i",
    "see",
    "veo",
    "vi",
    "saw",
    "people",
    "gente",
    "persons",
    "personas",
    "detained",
    "detenido",
    "detenida",
    "arrest",
    "arresto",
    "arrestando",
    "arresting",
    "home",
    "casa",
}
# A street name is at most this many words on each side of the join.
_STREET_WORDS = 4
# Street types and ordinals that make a phrase look like a street.
_STREET_TYPES = {
    "st",
    "street",
    "ave",
    "av",
    "avenue",
    "avenida",
    "blvd",
    "boulevard",
    "rd",
    "road",
    "dr",
    "drive",
    "way",
    "pl",
    "place",
    "calle",
    "ct",
    "court",
    "ln",
    "lane",
    "hwy",
    "highway",
    "pkwy",
    "parkway",
    "ter",
    "terrace",
    "cir",
    "circle",
}
_ORDINAL = re.compile(r"^\d+(st|nd|rd|th|a|o|ra|ro|va|vo|ta|to)$")
_TOKEN = re.compile(r"[\w'’.-]+|[&/@]|[,;:!?¡¿()\"]", re.UNICODE)
# Punctuation ends a street name.
_PUNCTUATION = set(',;:!?¡¿()"')
_ZIP = re.compile(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)")
_ADDRESS = re.compile(
    r"(?<![\w-])(\d{1,6}\s+(?:[NSEW]\.?\s+)?(?:[\w'’.-]+\s+){0,3}?"
    r"(?:st|street|ave|av|avenue|blvd|boulevard|rd|road|dr|drive|way|pl|place|ct|court|"
    r"ln|lane|hwy|highway|pkwy|parkway)\b\.?)",
    re.IGNORECASE | re.UNICODE,
)
_SPANISH_ADDRESS = re.compile(
    r"\b((?:calle|avenida|av\.?)\s+(?:[\w'’.-]+\s+){1,3}?\d{1,6})\b", re.IGNORECASE | re.UNICODE
)


# A point a phone shared: Telegram's location (passed on as "geo:lat,lng"), a maps link
# Signal sends for a location ("...maps?q=34.03%2C-118.21", ".../@34.03,-118.21,17z"), or
# coordinates typed as "34.0361, -118.2093".
_POINT = re.compile(
    r"(?:geo:|[?&](?:q|ll|query)=|/@|(?<![\w.-]))"
    r"(-?\d{1,2}\.\d{3,})\s*(?:,|%2C)\s*(-?\d{1,3}\.\d{3,})",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Corner:
    """Two streets that cross, as written (first as the text has it)."""

    first: str
    second: str

    def said(self) -> str:
        return f"{self.first} & {self.second}"

    def folded(self) -> tuple[str, str]:
        return fold(self.first), fold(self.second)


@dataclass(frozen=True)
class Wording:
    """The place phrases of one text, each kind in the order the text has them."""

    text: str
    corners: tuple[Corner, ...] = ()
    addresses: tuple[str, ...] = ()
    zips: tuple[str, ...] = ()
    # Points a phone shared or the text gives as coordinates (latitude, longitude).
    points: tuple[tuple[float, float], ...] = ()
    # The text's words, folded, without the sentence's own words: what a gazetteer
    # name is matched against.
    words: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.corners or self.addresses or self.zips or self.words or self.points)


def _clean(text: str) -> str:
    text = "".join(c if c.isprintable() else " " for c in text[:MAX_TEXT])
    return " ".join(text.split())


def _streetlike(words: list[str]) -> bool:
    """Whether the words could be a street's name: not only the sentence's words, and
    not a bare number ("1234" is a house number; "4th" and "calle 4" are streets)."""
    folded = [fold(w) for w in words]
    if all(w.isdigit() for w in folded):
        return False
    return any(w not in _STOP and (len(w) > 1 or _ORDINAL.match(w)) for w in folded)


def _joins(tokens: list[str], i: int) -> bool:
    """Whether tokens[i] joins two streets. Spanish "e" is "y" before an i sound only
    ("Soto e Indiana"); anywhere else it is an initial ("1234 E Cesar Chavez Ave")."""
    word = fold(tokens[i])
    if word == "e":
        after = fold(tokens[i + 1]) if i + 1 < len(tokens) else ""
        return tokens[i] == "e" and after.startswith(("i", "hi"))
    return word in _JOINS or tokens[i] in _JOINS


def _side(tokens: list[str], start: int, step: int) -> list[str]:
    """Read a street name outwards from the join at ``start`` (step -1 left, +1 right)."""
    words: list[str] = []
    i = start + step
    while 0 <= i < len(tokens) and len(words) < _STREET_WORDS:
        token = tokens[i]
        bare = fold(token.strip("."))
        if token in _PUNCTUATION or not bare or bare in _STOP or _joins(tokens, i):
            break
        words.append(token)
        i += step
    if step < 0:
        words.reverse()
    # A street type or ordinal ends a name read to the right ("4th St near ..." stops
    # there anyway at the stop word; "Soto St Boyle" would not be one street).
    return [w.strip(".") if w.endswith(".") and len(w) > 2 else w for w in words]


def _corners(tokens: list[str]) -> list[Corner]:
    corners: list[Corner] = []
    for i in range(len(tokens)):
        if not _joins(tokens, i):
            continue
        left, right = _side(tokens, i, -1), _side(tokens, i, +1)
        if not left or not right or not _streetlike(left) or not _streetlike(right):
            continue
        corner = Corner(" ".join(left), " ".join(right))
        if corner.folded()[0] != corner.folded()[1] and corner not in corners:
            corners.append(corner)

    # Corners that name a street (a type or an ordinal) come first: "vans and agents"
    # is read as a corner too, but after "Soto and 4th".
    def marked(c: Corner) -> bool:
        words = fold(c.first).split() + fold(c.second).split()
        return any(w in _STREET_TYPES or _ORDINAL.match(w) for w in words)

    corners.sort(key=lambda c: not marked(c))
    return corners


def read(text: str) -> Wording:
    """Return the place phrases of ``text``. Never raises."""
    clean = _clean(text or "")
    tokens = _TOKEN.findall(clean)
    addresses = [m.group(1).strip() for m in _ADDRESS.finditer(clean)]
    addresses += [m.group(1).strip() for m in _SPANISH_ADDRESS.finditer(clean)]
    zips = list(dict.fromkeys(m.group(1) for m in _ZIP.finditer(clean)))
    # A ZIP code is not a house number of an address found at the same place.
    zips = [z for z in zips if not any(a.startswith(z + " ") for a in addresses)]
    words = [
        w
        for w in (fold(t.strip(".'’")) for t in tokens if t not in _PUNCTUATION)
        if w and w not in _STOP and w not in _JOINS
    ]
    points = []
    for m in _POINT.finditer(clean):
        lat, lng = float(m.group(1)), float(m.group(2))
        if -90 <= lat <= 90 and -180 <= lng <= 180:
            points.append((lat, lng))
    return Wording(
        text=clean,
        points=tuple(dict.fromkeys(points)),
        corners=tuple(_corners(tokens)),
        addresses=tuple(dict.fromkeys(addresses)),
        zips=tuple(zips),
        words=tuple(words),
    )
