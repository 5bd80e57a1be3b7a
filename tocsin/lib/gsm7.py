"""SMS text: the GSM-7 alphabet and how many segments a text takes (3GPP TS 23.038).

Pure functions, for the SMS transport and anything that has to fit a text into a message.
"""

from __future__ import annotations

GSM7 = "GSM-7"
UCS2 = "UCS-2"
# The GSM-7 default alphabet, without the escape character.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the extension table: each is sent as ESC + character, two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[]~|€")
# Septets (GSM-7) or UTF-16 code units (UCS-2) in one SMS, and in each part of a
# concatenated one (the rest of a part holds the concatenation header).
LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}
MAX_SEGMENTS = 2

# Spanish accents GSM-7 lacks (á, í, ó, ú) lose the accent, the way people write SMS in
# Spanish; é, ñ, ü, ¡ and ¿ are in GSM-7 and stay. Grave look-alikes (à, ì, ò, ù are in
# GSM-7) would read as spelling mistakes. Typographic punctuation becomes ASCII. One
# character outside GSM-7 would switch the whole text to UCS-2 and cut its room from 306
# to 134 characters, which a Spanish alert and its link do not fit in.
TRANSLITERATE = str.maketrans(
    {
        "á": "a",
        "í": "i",
        "ó": "o",
        "ú": "u",
        "Á": "A",
        "Í": "I",
        "Ó": "O",
        "Ú": "U",
        "ê": "e",
        "ç": "Ç",
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
        "–": "-",
        "—": "-",
        "…": "...",
        "\u00a0": " ",
        "\t": " ",
    }
)


def to_gsm(text: str) -> str:
    """Return ``text`` with look-alikes in place of characters GSM-7 lacks (where it has one)."""
    return text.translate(TRANSLITERATE)


def encoding(text: str) -> str:
    return GSM7 if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text) else UCS2


def _units(text: str, coding: str) -> list[int]:
    """Return the size of each character, in septets or UTF-16 code units."""
    if coding == GSM7:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def segments(text: str) -> tuple[str, int]:
    """Return (encoding, number of SMS segments) for ``text``.

    GSM-7 if every character is in the GSM-7 alphabet, else UCS-2. A long text is split
    into parts that never cut an escape pair or a surrogate pair in two, as phones do.
    An empty text is one (empty) segment.
    """
    coding = encoding(text)
    single, part = LIMITS[coding]
    sizes = _units(text, coding)
    if sum(sizes) <= single:
        return coding, 1
    count, used = 1, 0
    for size in sizes:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return coding, count


def fits(text: str, limit: int = MAX_SEGMENTS) -> bool:
    return segments(text)[1] <= limit
