"""Spanish is complete: every string translated, nothing fuzzy, and the compiled catalogue
(which a fresh `tocsin demo` uses) matches its source."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parent.parent / "locale" / "es" / "LC_MESSAGES"
ENTRY = re.compile(r'^msgid "(.*)"$', re.M)


def entries() -> list[str]:
    """Return the .po file's live entries (obsolete #~ entries dropped)."""
    text = (LOCALE / "django.po").read_text()
    blocks = [b for b in text.split("\n\n") if "msgid" in b]
    return [b for b in blocks[1:] if not b.lstrip().startswith("#~")]


def msgid(block: str) -> str:
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("msgid "))
    value = lines[start][len('msgid "') : -1]
    for line in lines[start + 1 :]:
        if not line.startswith('"'):
            break
        value += line[1:-1]
    return value.encode().decode("unicode_escape").encode("latin-1").decode()


def test_it_has_no_fuzzy_translation() -> None:
    fuzzy = [msgid(b) for b in entries() if "#, fuzzy" in b or ", fuzzy" in b]
    assert fuzzy == []


def test_it_translates_every_string() -> None:
    missing = []
    for block in entries():
        lines = block.splitlines()
        msgstrs = [i for i, line in enumerate(lines) if line.startswith("msgstr")]
        for i in msgstrs:
            empty = lines[i].endswith('""') and (
                i + 1 >= len(lines) or not lines[i + 1].startswith('"')
            )
            if empty:
                missing.append(msgid(block))
    assert missing == []


@pytest.mark.parametrize("block", entries()[:400], ids=lambda b: msgid(b)[:40])
def test_it_compiled_the_catalogue_from_the_current_source(block: str) -> None:
    with (LOCALE / "django.mo").open("rb") as f:
        catalogue = gettext.GNUTranslations(f)
    source = msgid(block)
    key = (source, 0) if "msgid_plural" in block else source
    assert key in catalogue._catalog, "run: uv run python manage.py compilemessages"


def test_djangos_empty_choice_speaks_spanish_from_our_catalogue() -> None:
    # Django 6.1 added "- Select an option -" and its Spanish catalogue lacks it: the
    # mobilization form showed it in English (tocsin.lib.django_strings).
    from django.db.models.fields import BLANK_CHOICE_LABEL
    from django.utils import translation

    with translation.override("es"):
        assert str(BLANK_CHOICE_LABEL) == "- Elija una opción -"
