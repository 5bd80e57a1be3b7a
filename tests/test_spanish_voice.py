"""Spanish reads as one voice: usted throughout, one word per concept (the table in
docs/glossary.md, read here so the doc and the test cannot drift), kinds never followed by a
participle that agrees with only some of them, placeholders kept, nothing left untranslated."""

from __future__ import annotations

import gettext
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po"
GLOSSARY = ROOT / "docs" / "glossary.md"


@dataclass
class Entry:
    msgid: str = ""
    plural: str = ""
    context: str = ""
    msgstr: list[str] = field(default_factory=list)
    fuzzy: bool = False

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Return (English, Spanish) for each form: the plural form pairs with msgid_plural."""
        english = [self.msgid] + [self.plural] * (len(self.msgstr) - 1)
        return list(zip(english, self.msgstr, strict=True))


def _unquote(line: str) -> str:
    # A .po string is a C string literal in UTF-8: undo \" \\ \n \t only.
    body = line[line.index('"') + 1 : line.rindex('"')]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), body)


def catalogue() -> list[Entry]:
    """Return the live entries of the Spanish catalogue (no header, no obsolete #~)."""
    entries = []
    for block in CATALOGUE.read_text(encoding="utf-8").split("\n\n"):
        entry, target = Entry(), None
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                entry.fuzzy = True
            elif line.startswith("#"):
                continue
            elif line.startswith("msgctxt "):
                entry.context, target = _unquote(line), "context"
            elif line.startswith("msgid_plural "):
                entry.plural, target = _unquote(line), "plural"
            elif line.startswith("msgid "):
                entry.msgid, target = _unquote(line), "msgid"
            elif line.startswith("msgstr"):
                entry.msgstr.append(_unquote(line))
                target = "msgstr"
            elif line.startswith('"') and target == "msgstr":
                entry.msgstr[-1] += _unquote(line)
            elif line.startswith('"') and target:
                setattr(entry, target, getattr(entry, target) + _unquote(line))
        if entry.msgid:
            entries.append(entry)
    return entries


ENTRIES = catalogue()


@dataclass(frozen=True)
class Term:
    english: tuple[str, ...]
    spanish: tuple[str, ...]
    never: tuple[str, ...]


def glossary() -> list[Term]:
    """Return the rows of the glossary's term table."""
    terms, in_table = [], False
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:3] == ["English", "Spanish", "Never use"]:
            in_table = True
        elif in_table and not line.startswith("|"):
            break
        elif in_table and not set(cells[0]) <= {"-"}:
            english, spanish, never = cells[:3]
            terms.append(
                Term(
                    english=tuple(e.strip() for e in english.split(" / ")),
                    spanish=tuple(s.strip() for s in spanish.split(" / ")),
                    never=tuple(n.strip() for n in never.split(",") if n.strip()),
                )
            )
    return terms


TERMS = glossary()
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


def fold(text: str) -> str:
    """Lower case without accents: "Repórtelo" -> "reportelo"."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def english_pattern(term: str) -> re.Pattern[str]:
    words = r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", term))
    return re.compile(rf"\b{words}s?\b", re.I)


def spanish_pattern(term: str) -> re.Pattern[str]:
    """A Spanish term at the start of a word, any plural, a verb in any of its forms."""
    words = fold(term).split()
    last = words[-1]
    if len(words) == 1 and re.search(r"(ar|er|ir)(se)?$", last):
        words[-1] = re.sub(r"(ar|er|ir)(se)?$", "", last)
    return re.compile(r"\b" + r"\s+".join(re.escape(w) + r"(?:s|es)?" for w in words))


def never_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w/]){re.escape(word)}(?:s|es)?(?![\w/])", re.I)


def show(english: str, spanish: str) -> str:
    return f"\n  en: {english}\n  es: {spanish}"


def test_the_glossary_table_is_read() -> None:
    english = {e for t in TERMS for e in t.english}
    assert {"receipt code", "incident", "report", "alert", "verifier", "dispatcher"} <= english
    assert all(t.spanish and t.spanish[0] for t in TERMS)


def test_the_parser_reads_what_gettext_compiled() -> None:
    with CATALOGUE.with_suffix(".mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    for e in ENTRIES:
        key = f"{e.context}\x04{e.msgid}" if e.context else e.msgid
        if e.plural:
            assert [compiled[(key, n)] for n in range(len(e.msgstr))] == e.msgstr
        else:
            assert compiled[key] == e.msgstr[0]


def test_every_string_is_translated_and_none_is_fuzzy() -> None:
    assert [e.msgid for e in ENTRIES if e.fuzzy] == []
    assert [e.msgid for e in ENTRIES if not all(e.msgstr)] == []


def test_placeholders_are_kept_exactly() -> None:
    wrong = [
        show(en, es)
        for e in ENTRIES
        for en, es in e.pairs
        if sorted(PLACEHOLDER.findall(en)) != sorted(PLACEHOLDER.findall(es))
    ]
    assert wrong == [], "".join(wrong)


# Words only tú uses, wherever they stand.
TU_WORDS = [
    "tú",
    "tu",
    "tus",
    "te",
    "ti",
    "contigo",
    "tienes",
    "puedes",
    "quieres",
    "sabes",
    "estás",
    "eres",
    "ves",
    "necesitas",
    "atiendes",
    "envías",
    "escribiste",
    "enviaste",
    "encontraste",
    "iniciaste",
    "hiciste",
    "dale",
    "dile",
    "llámale",
    "quédate",
    "cuídate",
    "fíjate",
    "interfieras",
    "fotografíes",
    "compartas",
    "olvides",
]
# Imperatives of tú that are also "he/she does" (the search "responde", the operator
# "agrega"): tú when they open a sentence or a clause.
TU_IMPERATIVES = [
    "pulsa",
    "toca",
    "escribe",
    "elige",
    "responde",
    "agrega",
    "busca",
    "toma",
    "presiona",
    "verifica",
    "observa",
    "documenta",
    "apoya",
    "guarda",
    "revisa",
    "mira",
    "usa",
    "abre",
    "llama",
    "manda",
    "envía",
    "comparte",
    "pide",
    "avisa",
]
TU = re.compile(rf"(?<!\w)(?:{'|'.join(TU_WORDS)})(?!\w)", re.I)
TU_COMMAND = re.compile(
    rf"(?:^|[.:;!?¿¡(“«]\s*|,\s+(?:o|y|luego)\s+)(?:por favor,?\s+)?"
    rf"(?:{'|'.join(TU_IMPERATIVES)})(?:lo|la|los|las|le|les|me)?(?!\w)",
    re.I,
)


def test_it_speaks_as_usted_never_tu() -> None:
    tu = [
        show(en, es)
        for e in ENTRIES
        for en, es in e.pairs
        if TU.search(PLACEHOLDER.sub("", es)) or TU_COMMAND.search(PLACEHOLDER.sub("", es))
    ]
    assert tu == [], "".join(tu)


def test_the_voice_checks_catch_tu() -> None:
    for text in ("Toca el mapa.", "Tu reporte", "Si puedes, ve.", "Observa, documenta.", "Dile"):
        assert TU.search(text) or TU_COMMAND.search(text), text
    for text in ("La búsqueda no responde.", "Lo que ve quien llama", "El operador agrega uno"):
        assert not (TU.search(text) or TU_COMMAND.search(text)), text


def test_roles_are_never_written_with_a_slash() -> None:
    slashed = re.compile(r"\b\w+/as?\b|\bun/a\b", re.I)
    found = [show(en, es) for e in ENTRIES for en, es in e.pairs if slashed.search(es)]
    assert found == [], "".join(found)


@pytest.mark.parametrize("term", TERMS, ids=lambda t: t.english[0])
def test_each_concept_has_its_one_spanish_word(term: Term) -> None:
    english = [english_pattern(t) for t in term.english]
    spanish = [spanish_pattern(t) for t in term.spanish]
    never = [never_pattern(w) for w in term.never]
    # A longer term wins: "staff member" belongs to staff, not to member.
    longer = [
        english_pattern(other)
        for t in TERMS
        if t is not term
        for other in t.english
        if any(p.search(other) for p in english)
    ]
    wrong = []
    for e in ENTRIES:
        for en, es in e.pairs:
            plain = PLACEHOLDER.sub("", en)
            for p in longer:
                plain = p.sub("", plain)
            if not any(p.search(plain) for p in english):
                continue
            missing = not any(p.search(fold(es)) for p in spanish)
            rejected = [p.pattern for p in never if p.search(es)]
            if missing or rejected:
                wrong.append(show(en, es) + (f"\n  never: {rejected}" if rejected else ""))
    assert wrong == [], f"use “{term.spanish[0]}”:" + "".join(wrong)


def test_the_spanish_matching_covers_forms_and_plurals() -> None:
    assert spanish_pattern("reportar").search(fold("Repórtelo"))
    assert spanish_pattern("reportar").search(fold("quien reportó"))
    assert spanish_pattern("llave de acceso").search(fold("Llaves de acceso"))
    assert not spanish_pattern("comprobante").search(fold("código de recibo"))
    assert never_pattern("recibo").search("la página del recibo")
    assert not never_pattern("aviso").search("Se avisó a los miembros")


def test_an_incident_kind_is_never_followed_by_a_participle_or_preceded_by_an_article() -> None:
    """Kinds differ in gender and number (Retén, Redada en lugar de trabajo, Agentes o
    vehículos a la vista): a word agreeing with %(kind)s is right for some and wrong for
    the others ("Redada … reportado"), so a fixed noun introduces the kind instead."""
    around = re.compile(
        r"\b(?:el|la|los|las|un|una|unos|unas|del|al)\s+%\(kind\)s"
        r"|%\(kind\)s\s+\w+(?:ad|id)[oa]s?\b",
        re.I,
    )
    found = [show(en, es) for e in ENTRIES for en, es in e.pairs if around.search(es)]
    assert found == [], "".join(found)


def test_quotes_are_the_same_as_in_english() -> None:
    found = [show(en, es) for e in ENTRIES for en, es in e.pairs if "«" in es or "»" in es]
    assert found == [], "".join(found)
