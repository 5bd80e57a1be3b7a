"""Screening free text for officers' identities and calls to interfere (DESIGN.md section 2).

``screen(text)`` is a pure function: it returns a ``Screen`` whose ``held`` is true when the
text must not reach an alert or a public page until a dispatcher edits it, with stable
reason codes:

    officer_name     a title ("Officer", "Agente", "Sgt.", "Det.", "Deputy", "Alguacil", ...)
                     followed by a name; or "named / se llama / su nombre es" after an
                     officer word
    badge_number     "badge / shield / insignia / placa" (or a title) with a number
    home_address     an address tied to a person: "lives at", "his house is at",
                     "home address", "vive en", "su casa está en", "su domicilio"
    social_account   an @handle; an email address; a facebook, instagram, tiktok, x.com ...
                     address (also "facebook dot com", "fb[.]com"); "his Instagram",
                     "su perfil de Facebook", "IG: handle"
    family           an officer's family located: "the agent's wife works at ...",
                     "his kids go to ..." after an officer word, "la esposa del agente"
    doxxing          calls to expose someone: "dox", "post his address", "find out where
                     he lives", "averigüen dónde vive", "publiquen su dirección"
    interference     calls to interfere: block the van, slash tires, stop them, surround
                     them, throw rocks, attack, follow him home; "bloqueen la salida",
                     "ponchen las llantas", "tírenles piedras", "rodéenlos", "no los dejen
                     salir", "síganlo hasta su casa" ...

How text is read. Every rule runs on a folded copy of the text, never on the stored one:
NFKC (full-width and mathematical letters become plain ones), common Cyrillic and Greek
look-alikes mapped to Latin, zero-width and other format characters, combining marks
(accents) and control characters removed, runs of whitespace made one space; then a
second pass also undoes leetspeak inside words that mix letters and digits ("0ff1c3r",
"Sm1th", not "5th" or "4567") and joins letters spelled out one by one ("b a d g e",
"#4 5 6 7", "b.a.d.g.e", letters separated by emoji or line breaks). A rule that matches
any of these readings holds the text.

What passes, on purpose. The rules target people, not operations in public space:
"ICE agents at 5th and Main", "agente de ICE en la esquina", "they showed a badge", "the
agent said he had a warrant", an address of the place of the operation ("a car wash at
1234 Main St"), and vehicle plates ("license plate partially 7ABC", "placas 7ABC123"):
a government vehicle's plate is not an officer's identity, and it is how responders find
the operation. "placa" with digits only is read as a badge ("placa 4567"), with letters
or after a vehicle word as a plate. Guidance ("do not block the van", "no bloqueen la
salida") and reports of what agents did ("agents blocked the road", "the agent hit him")
are not calls: a match right after a negation or a third-person subject is skipped.

Limits (hold or pass wrongly; a dispatcher reads every report anyway):
- A lower-case name after a title is caught only for common first names and surnames
  ("officer john", "agente garcia"); a name with no title or cue ("Smith was there") passes.
- Words split inside ("off icer"), misspelled past recognition, or in other languages pass.
- The family rule needs one officer named before ("that cop, his kids go to ..."): after
  "an agent detained a man", "his wife works at the bakery" is held too (family).
- "no los dejen salir" after a mention of children ("niños", "kids") is read as safety
  advice and passes.
- A report naming a detained person after an officer word ("the agent took my brother,
  his name is Juan") is held, with the reason officer_name: names of people do not
  belong in alerts either.
- A number after "#" alone is not a badge ("Apt #204", "gate #3"); after a title or badge
  word it is.
- A personal phone number is not recognised; neither is a handle written without "@"
  and without a platform word, nor a name glued to a lower-case title ("officersmith").
- "Officer Down", "Agent Orange": a title and a capitalised word is read as a name.
- Rules are regular expressions over at most ``LIMIT`` characters per reading; longer text
  is held whole (reason "too_long"), since the rest was not read.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

OFFICER_NAME = "officer_name"
BADGE_NUMBER = "badge_number"
HOME_ADDRESS = "home_address"
SOCIAL_ACCOUNT = "social_account"
FAMILY = "family"
DOXXING = "doxxing"
INTERFERENCE = "interference"
TOO_LONG = "too_long"

# Report text is at most 1000 characters and a summary 500; anything far longer is not a
# report and is held rather than read in part.
LIMIT = 20_000

REASONS: dict[str, Promise] = {
    OFFICER_NAME: _("an officer's name"),
    BADGE_NUMBER: _("a badge number"),
    HOME_ADDRESS: _("a home address"),
    SOCIAL_ACCOUNT: _("a personal social media account"),
    FAMILY: _("an officer's family"),
    DOXXING: _("a call to expose someone"),
    INTERFERENCE: _("a call to interfere"),
    TOO_LONG: _("text too long to check"),
}


@dataclass(frozen=True)
class Screen:
    """The verdict on one text: ``held`` when any rule matched, with the reason codes in
    a stable order (the order of ``REASONS``)."""

    held: bool
    reasons: tuple[str, ...] = ()

    @property
    def codes(self) -> str:
        """Return the reasons as stored in ``Report.held_reasons``: "a,b"."""
        return ",".join(self.reasons)


PASS = Screen(held=False)


def reason_labels(reasons: str | tuple[str, ...] | list[str]) -> list[str]:
    """Return the reasons (codes, or "a,b" as stored) in words, in the active language."""
    codes = reasons.split(",") if isinstance(reasons, str) else list(reasons)
    return [str(REASONS.get(c, c)) for c in codes if c]


# Look-alikes of Latin letters (Cyrillic, Greek, a few others) that NFKC keeps.
_CONFUSABLES = str.maketrans(
    {
        **dict(zip("аеорсухіјѕԁɡһӏԛԝкмтьз", "aeopcyxijsdghlqwkmtb3", strict=True)),
        **dict(zip("АВЕКМНОРСТХІЈЅУЗ", "ABEKMHOPCTXIJSY3", strict=True)),
        **dict(zip("οαειννρτυχℓ", "oaeivvptuxl", strict=True)),
        **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True)),
    }
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s"})
_SPACES = re.compile(r"\s+")
_GAPS = re.compile(r"\s{2,}")
# Words; those mixing letters and leet digits are read again without the digits, except
# ordinals ("5th", "3rd", "2da").
_WORD = re.compile(r"[\w$]+")
_HAS_LEET = re.compile(r"[0-9$]")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|th|a|o|er|ra|do|da|to|ta|vo|va|no|na|mo|ma)$", re.I)
# Three or more single letters or digits, each followed by one to three separators.
_SEPARATOR = re.compile(r"([\W_]+)")
_SPELLED = re.compile(r"(?<![^\W_])(?:[^\W_][\W_]{1,5}){2,}[^\W_](?![^\W_])")


def _fold(text: str) -> str:
    """Return ``text`` with look-alikes, invisible characters and accents removed (case kept)."""
    text = unicodedata.normalize("NFKC", text).translate(_CONFUSABLES)
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        cat = unicodedata.category(ch)
        if cat in ("Mn", "Me", "Cf", "Cs", "Co", "Cn") and ch not in "\n\t":
            continue
        # Control characters, line breaks and emoji or other symbols between words: spaces.
        out.append(" " if cat in ("Cc", "Zl", "Zp", "So", "Sk") else ch)
    # A run of spaces stays two wide: it may be the gap between spelled-out words.
    return _GAPS.sub("  ", unicodedata.normalize("NFC", "".join(out))).strip()


def _unleet(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        word = m.group(0)
        if _ORDINAL.match(word) or not (_HAS_LEET.search(word) and _HAS_LETTER.search(word)):
            return word
        return word.translate(_LEET)

    return _WORD.sub(one, text)


def _unspell(text: str) -> str:
    return _SPELLED.sub(_join_spelled, text)


def _join_spelled(m: re.Match[str]) -> str:
    """Join one run of spelled-out letters: the commonest separator is the one between
    letters; any other is a gap between words, or (when it wraps the commonest one, as
    " @ " or ".@." does) a character of the text itself."""
    run = m.group(0)
    pieces = [p for p in _SEPARATOR.split(run) if p]
    common = Counter(p for p in pieces if _SEPARATOR.fullmatch(p)).most_common(1)[0][0]
    out = []
    for piece in pieces:
        if not _SEPARATOR.fullmatch(piece):
            out.append(piece)
        elif piece == common:
            continue
        elif (
            len(piece) > 2 * len(common)
            and piece.startswith(common)
            and piece.endswith(common)
            and piece[len(common) : -len(common)].strip()
        ):
            out.append(_SPACES.sub(" ", piece[len(common) : -len(common)]))
        else:
            out.append(" ")
    return "".join(out)


def readings(text: str) -> list[str]:
    """Return the case-kept readings of ``text`` the rules run on (see the module docstring)."""
    gapped = _fold(text)
    folded = _SPACES.sub(" ", gapped)
    unleet = _unleet(folded)
    unspelled = _SPACES.sub(" ", _unspell(gapped))
    found = [folded]
    for candidate in (unleet, unspelled, _unleet(unspelled)):
        if candidate not in found:
            found.append(candidate)
    return found


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words ------------------------------------------------------------------------------------

_TITLE = (
    r"(?:officer|ofc|ofcr|oficial|agent|agente|special agent|agente especial|sgt|sergeant|"
    r"sargento|det|detective|deputy|dep|alguacil|lt|lieutenant|teniente|capt|cpt|captain|"
    r"capitan|cpl|corporal|cabo|trooper|inspector|comandante|"
    r"patrolman|patrullero|patrullera)"
)
_OFFICER_WORDS = (
    r"(?:officers?|agents?|agentes?|cops?|deput(?:y|ies)|sheriffs?|troopers?|sergeants?|sgt|"
    r"detectives?|lieutenant|captain|supervisor|ice|cbp|hsi|ero|migra|polic[ei]as?|"
    r"oficial(?:es)?|alguacil(?:es)?|sargentos?|patruller[oa]s?|teniente|capitan|feds?|"
    r"la chota|chota|pigs?)"
)
# Words that follow a title without being a name: function words, agencies, report verbs.
_NOT_NAMES = _words(
    """
    a an the at in on of to for from by with and or but is was are were be been has had have
    said says told asked showed shows came went left got took grabbed pushed yelled arrested
    detained stopped took takes wants wanted asked came come coming going went walked ran
    who that which this there here then when where while said says say told tells tell
    he she they him her them his their it its my our your me us we you i
    de del la el los las en y o u con por para que se su sus lo le les un una al es era fue
    dijo dice pidio mostro llego llegaron esta estaba estan tiene tenia sin sobre entre
    ice cbp hsi ero dhs fbi dea atf usbp lapd lasd chp nypd cpd swat us usa uscis pd sd
    border patrol police policia migra immigration inmigracion federal
    hit hits pushed pulled punched kicked shoved threw dragged chased followed searched
    checked opened broke entered knocked filmed recorded drove parked waited stood ran
    handcuffed cuffed tackled tased pointed yelled shouted screamed laughed refused lied
    did does didn doesn will would could should can may might must also just then still
    never always already only again not no yes
    empujo jalo golpeo pego agarro detuvo arresto esposo tiro pateo grito entro salio
    abrio rompio tomo llevo subio bajo corrio manejo paro pregunto reviso busco grabo
    nos me te lo la los las ya tambien todavia nunca siempre solo otra otro
    in charge a cargo unit unidad team equipo car van truck vehicle vehiculo camioneta
    department departamento office oficina division county state city
    number numero badge placa id special especial sheriff director chief marshal general
    patrol enforcement removal operations agents agentes officers oficiales
    monday tuesday wednesday thursday friday saturday sunday
    lunes martes miercoles jueves viernes sabado domingo
    today hoy now ahora later luego yesterday ayer
    street calle avenue avenida main north south east west norte sur este oeste
    male female man woman hombre mujer tall short alto bajo white black blanco negro
    wearing vistiendo with without masked enmascarado
    """
)
_FIRST_NAMES = _words(
    """
    john james robert michael william david richard joseph thomas charles chris christopher
    daniel matthew anthony mark donald steven steve paul andrew joshua kevin brian george
    edward ronald timothy jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry
    justin scott brandon benjamin frank gregory raymond samuel patrick alexander jack dennis
    jerry tyler aaron henry adam douglas nathan peter zachary kyle walter harold jeremy
    mary patricia jennifer linda elizabeth barbara susan jessica sarah karen nancy lisa
    betty margaret sandra ashley kimberly emily donna michelle carol amanda melissa deborah
    stephanie rebecca laura sharon cynthia kathleen amy shirley angela helen anna brenda
    juan jose luis carlos jesus manuel pedro miguel francisco antonio javier alejandro
    fernando jorge ricardo roberto eduardo raul sergio mario rafael arturo enrique hector
    alberto oscar ramon guillermo victor andres diego pablo ruben armando alfredo
    maria guadalupe juana margarita veronica rosa leticia gabriela alejandra adriana
    patricia elena claudia lucia carmen isabel ana sofia andrea daniela monica silvia
    """
)
_SURNAMES = _words(
    """
    smith johnson williams jones miller davis wilson anderson taylor thomas moore jackson
    thompson harris clark lewis robinson walker allen wright scott adams baker nelson
    carter mitchell roberts turner phillips campbell parker evans edwards collins stewart
    morris murphy rogers morgan cooper peterson richardson howard ward torres kowalski
    garcia rodriguez martinez hernandez lopez gonzalez perez sanchez ramirez flores rivera
    gomez diaz reyes morales cruz ortiz gutierrez chavez ramos ruiz alvarez mendoza
    castillo jimenez vasquez vazquez romero herrera medina aguilar vargas castro guzman
    fernandez moreno munoz salazar delgado soto contreras navarro rojas dominguez
    """
)

_NAME_TOKEN = r"[A-Za-z][A-Za-z'\-]+"
_TITLE_NAME = re.compile(
    rf"(?<![A-Za-z]){_TITLE}\.?,?\s(?:[A-Z]\.\s?)?({_NAME_TOKEN})(?:\s({_NAME_TOKEN}))?",
    re.I,
)
# A title glued to a name, as letters spelled out one by one come back: "OfficerSmith".
_GLUED_NAME = re.compile(rf"(?<![A-Za-z])(?i:{_TITLE})\.?([A-Z][a-z]{{2,}})")
_NAME_CUE = re.compile(
    r"\b(?:named|called|name is|name was|name's|names are|name tag (?:said|says|read|reads)|"
    r"nametag (?:said|says|read|reads)|last name|surname|se llama|se llamaba|llamad[oa]|"
    r"de nombre|nombre es|nombre era|apellido|apellido es|su gafete dec[ií]a)\W{1,3}"
    rf"({_NAME_TOKEN})",
    re.I,
)
_ACRONYM_OK = {"ICE", "CBP", "HSI", "ERO", "DHS", "FBI", "DEA", "ATF", "PD", "SD", "US", "USA"}


def _looks_like_name(token: str, shouting: bool) -> bool:
    word = (token[:-2] if token.lower().endswith("'s") else token).strip("'-")
    low = word.lower()
    if len(word) < 2 or low in _NOT_NAMES or word.upper() in _ACRONYM_OK:
        return False
    if low in _FIRST_NAMES or low in _SURNAMES:
        return True
    if word[0].isupper() and any(c.islower() for c in word[1:]):
        return True  # Capitalised: "Smith", "McDonald"
    # All capitals ("Officer SMITH", "OFFICER SMITH"): a name unless a known word.
    return word.isupper() and len(word) >= 3


def _officer_names(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    shouting = bool(letters) and sum(c.isupper() for c in letters) > 0.8 * len(letters)
    for m in _TITLE_NAME.finditer(text):
        first, second = m.group(1), m.group(2)
        if _looks_like_name(first, shouting):
            return True
        # "Officer J Smith" is caught above; "agent el Smith" is not a pattern anyone uses.
        if first.lower() in _FIRST_NAMES and second and _looks_like_name(second, shouting):
            return True
    for m in _GLUED_NAME.finditer(text):
        if _looks_like_name(m.group(1), shouting):
            return True
    for m in _NAME_CUE.finditer(text):
        before = text[max(0, m.start() - 100) : m.start()].lower()
        if re.search(rf"\b{_OFFICER_WORDS}\b", before) or re.search(rf"\b{_TITLE}\b", before, re.I):
            word = m.group(1).lower()
            if word not in _NOT_NAMES:
                return True
    return False


# Badge numbers -----------------------------------------------------------------------------

_NUMWORD = (
    r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|cero|uno|dos|tres|cuatro|"
    r"cinco|seis|siete|ocho|nueve)"
)
_NUMBER = rf"(?:\d[\s.\-]?){{1,7}}\d|(?:{_NUMWORD}[\s,\-]+){{2,}}{_NUMWORD}"
_NUM_LEAD = (
    r"(?:\s*(?:#|no\.?|nr\.?|num\.?|number|numero|n\.?o?|is|was|es|era|reads?|said|says|"
    r"dec[ií]a|dice|:|-)\s*){0,3}"
)
_BADGE = re.compile(
    r"\b(?:badge|badges|shield|insignia|chapa|credencial|gafete|star number|star no|star #|"
    r"employee (?:id|number|no)|numero de empleado|id number|id no|id #|id:)"
    rf"{_NUM_LEAD}\s*(?:{_NUMBER})",
    re.I,
)
_TITLE_NUMBER = re.compile(
    rf"(?<![A-Za-z]){_TITLE}\.?\s*(?:#\s*\d[\d\s\-]*\d|(?:no\.?|number|num\.?|numero)\s*#?\s*\d{{2,}}"
    r"|\d{3,}(?!\s*(?:min|minutes|minutos|am|pm|hrs|horas|hours|blocks|cuadras|feet|pies|"
    r"metros|meters|m\b|people|personas|workers|trabajadores)))",
    re.I,
)
_PLACA = re.compile(
    r"\b(?:n[uú]mero de )?placa(?! de)(?:\s*(?:#|no\.?|num\.?|numero|n\.?o?|es|:)\s*){0,2}\s*"
    r"(\d[\d\s.\-]{1,10}\d)(-?[A-Za-z]{1,3}\b)?",
    re.I,
)
# "la placa del agente decía 7 7 1 2", "la placa es cinco cuatro tres dos": digits that
# follow an officer word, or numbers in words (a vehicle plate has letters).
_PLACA_MORE = re.compile(
    r"\bplaca\s+(?:del|de la)\s+(?:agente|oficial|policia|sargento|alguacil|migra)\W+"
    rf"(?:[a-z]+\W+){{0,2}}?(?:{_NUMBER})"
    rf"|\bplaca(?:\s*(?:es|era|dice|decia|:|#|numero|no)\b)*\s*(?:{_NUMWORD}[\s,\-]+){{2,}}{_NUMWORD}",
    re.I,
)
_VEHICLE = re.compile(
    r"\b(?:carro|coche|auto|camioneta|van|troca|vehiculo|patrulla|suv|camion|licencia|matricula|"
    r"placas|car|truck|vehicle|plate|plates|license|tablilla)\b",
    re.I,
)


def _badge(text: str) -> bool:
    if _BADGE.search(text) or _TITLE_NUMBER.search(text) or _PLACA_MORE.search(text):
        return True
    for m in _PLACA.finditer(text):
        if m.group(2) and m.group(2).strip(" -"):
            continue  # letters after the digits: a vehicle plate
        if _VEHICLE.search(text[max(0, m.start() - 40) : m.start()]):
            continue
        return True
    return False


# Home addresses ----------------------------------------------------------------------------

_ADDRESS = (
    r"(?:\d{1,6}\s?[A-Za-z]|\b(?:st|street|ave|avenue|av|avenida|blvd|boulevard|rd|road|dr|"
    r"drive|ln|lane|way|ct|court|pl|place|pkwy|hwy|terrace|circle|calle|colonia|col|apt|"
    r"apartment|apartamento|depto|departamento|unit|cerrada|privada|andador|manzana|lote|"
    r"casa numero|numero)\b|#\s*\d)"
)
_HOME = re.compile(
    r"\b(?:(?:lives?|living|resides?|residing|stays?|sleeps?)(?:\s+(?:at|on|in|near|by|off|"
    r"over|around|right)\b|\s*[:=\-]|\s+is\b)"
    r"|(?:his|her|their|the (?:agent|officer|cop|deputy)'?s|(?:agent|officer|cop|deputy)'s)\s+"
    r"(?:home|house|apartment|apt|address|residence|crib|condo|domicile)\s+(?:is|=|:|'s)"
    r"|home address|address of (?:his|her|their) home"
    r"|(?:vive|viven|vivia|vivian|reside|residen|duerme)\s+(?:en|por|cerca de|a la vuelta|sobre)\b"
    r"|su\s+(?:casa|domicilio|direccion|departamento|depa|apartamento|hogar|vivienda)"
    r"\s+(?:esta|queda|es|:|se encuentra)"
    r"|direccion de su casa|direccion particular|(?:casa|domicilio|direccion) del (?:agente|"
    r"oficial|policia|sargento|alguacil))"
    rf"[^.!?\n]{{0,60}}?{_ADDRESS}",
    re.I,
)


# Social accounts ---------------------------------------------------------------------------

_PLATFORMS = (
    r"(?:facebook|face book|fb|instagram|insta gram|insta|ig|tiktok|tik tok|twitter|x account|"
    r"snapchat|snap|linkedin|linked in|onlyfans|threads|youtube|bluesky|bsky|reddit|"
    r"whatsapp|telegram|venmo|cashapp|cash app)"
)
_HANDLE = re.compile(r"(?<![\w@.])@(\s?)([A-Za-z0-9_](?:[A-Za-z0-9_.]{1,29}))")
_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]+@[\w\-]+\.[\w.]+")
_HANDLE_NOT = re.compile(
    r"^(?:\d+(?:st|nd|rd|th)?|\d+\w{0,2})$|^(?:the|la|el|los|las|ice|main|home|work)$", re.I
)
_URL = re.compile(
    r"(?:(?<![\w.\-])(?:facebook|fb|instagram|instagr|tiktok|twitter|threads|linkedin|"
    r"snapchat|youtube|bsky|onlyfans|reddit|truthsocial|venmo|cash)(?:\s*\.)+\s*"
    r"(?:com|am|net|app|social|me|co)\b|(?<![\w.\-])x\s*\.\s*com\b)",
    re.I,
)
_DOT = re.compile(r"\s*(?:[\[\(\{<]\s*(?:\.+|dot|punto)\s*[\]\)\}>]|\s(?:dot|punto)\s)\s*", re.I)
_SOCIAL = re.compile(
    r"\b(?:(?:his|her|their|su|sus|the (?:agent|officer|cop|deputy)'?s|(?:agent|officer|cop|"
    rf"deputy)'s)\s+(?:\w+\s+)?{_PLATFORMS}\b"
    rf"|(?:el|la|su)\s+{_PLATFORMS}\s+(?:del|de la)\s+(?:agente|oficial|policia|sargento|"
    r"alguacil|tipo|se[nñ]or)"
    r"|(?:cuenta|perfil|pagina|usuario|account|profile|page|handle|username)\s+(?:de|on|en)\s+"
    rf"{_PLATFORMS}\b[^.!?\n]{{0,40}}(?:del|de la|of the|of that|de ese|de esa)\s+"
    r"(?:agente|oficial|agent|officer|cop)"
    r"|(?:perfil|cuenta|profile|account|page|handle|socials)\s+(?:del|de la|of the|of that|de ese)"
    r"\s+(?:agente|oficial|agent|officer|cop|deputy|policia)"
    r"|(?:su|sus|his|her|their)\s+(?:perfil|cuenta|pagina|usuario|account|profile|page)\s+"
    rf"(?:de|on|en|in)\s+{_PLATFORMS}\b"
    rf"|{_PLATFORMS}\s*[:=]\s*@?[A-Za-z0-9_]*[._\d][A-Za-z0-9_.]*"
    rf"|{_PLATFORMS}\s+(?:handle|user(?:name)?|usuario|name|nombre)\s*(?:is|es|:)?\s*@?[A-Za-z0-9_.]{{3,}}"
    rf"|(?:on|en)\s+{_PLATFORMS}\s+(?:as|como)\b"
    r"|\bsu\s+face\b|\b(?:el|la)\s+face\s+(?:del|de la)\s+(?:agente|oficial|policia|sargento))",
    re.I,
)


def _social(text: str) -> bool:
    if "@" in text and _EMAIL.search(text):
        return True
    for m in _HANDLE.finditer(text):
        handle = m.group(2)
        if m.group(1) and not re.search(r"[._\d]", handle):
            continue  # "@ Walmart": a place written with an at sign
        after = text[m.end() : m.end() + 12].lower()
        if _HANDLE_NOT.match(handle) or re.match(
            r"\s+(?:and|y|&|st|street|ave|avenue|blvd|calle)\b", after
        ):
            continue
        return True
    undotted = _DOT.sub(".", text)
    return bool(_URL.search(undotted) or _SOCIAL.search(text))


# Family and doxxing ------------------------------------------------------------------------

_FAMILY_WORD = (
    r"(?:wife|husband|kids?|children|son|daughter|family|mom|mother|dad|father|girlfriend|"
    r"boyfriend|partner|esposa|esposo|hijos?|hijas?|familia|novia|novio|mama|madre|papa|"
    r"mujer|senora)"
)
_FAMILY_LOCATED = re.compile(
    rf"\b(?:his|her|their|su|sus)\s+{_FAMILY_WORD}\s+(?:\w+\s+)?(?:goes to|go to|attends?|"
    r"works? (?:at|in|for)|lives? (?:at|on|in)|studies at|study at|is at school|estudian? en|"
    r"van a|va a|trabajan? en|viven? en|asisten? a)",
    re.I,
)
_ONE_OFFICER = re.compile(
    r"\b(?:officer|agent|cop|deputy|sheriff|trooper|sergeant|sgt|detective|oficial|agente|"
    r"policia|alguacil|sargento|patrullero)\b",
    re.I,
)
_FAMILY_DIRECT = re.compile(
    rf"\b(?:(?:the\s+)?(?:agent|officer|cop|deputy|sergeant|sgt)'s\s+{_FAMILY_WORD}\b"
    rf"|{_FAMILY_WORD}\s+(?:del|de la)\s+(?:agente|oficial|policia|sargento|alguacil|migra)\b)",
    re.I,
)
_DOXXING = re.compile(
    r"\b(?:dox+(?:ed|ing|ear|eo|ea|eas|een|eenlo|eenla|eenlos|emos|eemos)?\b"
    r"|(?:expose|unmask|track down|hunt down)\s+(?:him|her|them|the (?:agent|"
    r"officer|cop|deputy)s?|that (?:agent|officer|cop)|those (?:agents|officers|cops))\b"
    r"|find (?:out )?(?:who (?:he|she|they) (?:is|are)|where (?:he|she|they) lives?|"
    r"(?:his|her|their) (?:home )?(?:address|house))"
    r"|(?:post|share|publish|spread|leak|pass around|circulate|put out)\s+(?:his|her|their|"
    r"the (?:agent|officer|cop)'?s)\s+(?:\w+\s+)?(?:address|home|house|name|names|face|faces|"
    r"photo|pic|picture|info|information|details|number|phone|plates?|car|family|kids|wife|"
    r"socials?|profile)"
    r"|(?:publiquen|compartan|pasen|difundan|suban|publicar|compartir|difundir|quemen|quemar|"
    r"exhiban|exhibir|expongan|exponer|balconeen|balconear)\s+(?:su|sus)\s+(?:\w+\s+)?"
    r"(?:direccion|casa|nombre|cara|foto|fotos|datos|informacion|telefono|familia|hijos|esposa|"
    r"face|facebook|perfil|placas?|domicilio)"
    r"|(?:averiguen|averigua|averiguar|investiguen|investigar|busquen|busca|encuentren)\s+"
    r"(?:donde vive|donde viven|quien es|quienes son|su direccion|su casa|su face|su perfil|"
    r"su domicilio)"
    r"|(?:expongan|exponer|quemen|quemar|exhiban|exhibir|desenmascaren|desenmascarar|"
    r"balconeen|balconear)\s+(?:al|a los|a ese|a esos|a la)\s+(?:agente|oficial|policia|"
    r"agentes|oficiales|policias|migra|sargento))",
    re.I,
)


# Interference ------------------------------------------------------------------------------

_TARGET = (
    r"(?:them|him|her|ice|la migra|those (?:\w+ )?(?:agents|cops|officers|pigs|feds)|"
    r"that (?:agent|cop|officer)|(?:the|their|that|those|this|his|its)\s+(?:\w+\s+)?"
    r"(?:agents?|officers?|cops?|pigs?|feds?|deput(?:y|ies)|vans?|cars?|trucks?|suvs?|"
    r"vehicles?|bus|cruisers?))"
)
_INTERFERENCE_CALLS = [
    # Blocking.
    r"(?:block|blockade|barricade|box in)\s+(?:off\s+)?(?:(?:the|their|them|that|those|this|his|"
    r"her|its|all|every)\s+)?(?:\w+\s+)?(?:vans?|cars?|trucks?|suvs?|vehicles?|road|street|"
    r"exits?|gate|driveway|doors?|entrance|way|path|them|agents?|officers?|ice|cops?|police|bus)\b",
    r"(?:stand|sit|lie|lay|get|park|stay)\s+(?:down\s+)?in front of\s+"
    r"(?:(?:the|their|that|those)\s+)?(?:\w+\s+)?(?:vans?|cars?|trucks?|vehicles?|bus|agents?|gate|exit)\b",
    r"(?:form|make)\s+a\s+(?:human\s+)?(?:chain|wall|line)\s+(?:around|in front of)",
    r"(?:lock|link)\s+arms\s+(?:around|in front of)",
    # Tires and vehicles.
    r"(?:slash|slashing|cut|puncture|flatten|pop|deflate|stab|knife)\s+(?:(?:the|their|its|"
    r"his|her|all|every|those|all the)\s+)?(?:\w+\s+)?(?:tires?|tyres?|wheels?)\b",
    r"let the air out",
    r"(?:smash|break|bust|shatter|kick in)\s+(?:(?:the|their|his|her|its|all|those)\s+)?(?:\w+\s+)?"
    r"(?:windows?|windshields?|glass|lights|mirrors?|headlights)\b",
    r"(?:burn|torch|set fire to|flip|key|scratch|spray paint|vandalize|wreck|trash|disable)\s+"
    r"(?:(?:the|their|that|those|his|her)\s+)?(?:\w+\s+)?(?:vans?|cars?|trucks?|suvs?|"
    r"vehicles?|patrol cars?|cruisers?)\b",
    r"set\s+(?:\w+\s+){0,3}on fire",
    r"molotov",
    r"sugar in (?:the|their) (?:gas|tank)",
    # Stopping and surrounding.
    r"stop\s+(?:them|him|her|the (?:agents?|officers?|vans?|cops?|cars?|trucks?)|ice|la migra)\b",
    r"(?:don'?t|do not|dont)\s+let\s+(?:them|him|her|the (?:\w+\s+)?(?:agents?|officers?|vans?|"
    r"cops?|feds))\s+(?:leave|go|take|get away|drive|escape|out|through|pass)",
    r"keep\s+(?:them|the \w+)\s+from\s+(?:leaving|taking|going|driving)",
    rf"(?:surround|encircle|circle|trap|corner|swarm|mob|rush|charge|storm)\s+{_TARGET}",
    # Violence.
    rf"(?:attack|assault|hit|beat|punch|kick|jump|fight|tackle|shove|push|grab|hurt|kill|shoot|"
    rf"stab|lynch|smack|slap|spit on|beat up|rough up|take down|take out|chase|hunt|"
    rf"hunt down|run after|go after|ambush|egg)\s+{_TARGET}",
    r"(?:let'?s|lets|go|we should|we need to|everyone|todos a)\s+(?:attack|riot|rush)\b",
    r"attack\s*!",
    r"start a riot",
    r"(?:throw|toss|hurl|chuck|pelt|launch)\s+(?:\w+\s+){0,2}?(?:rocks?|stones?|bricks?|"
    r"bottles?|eggs?|paint|molotovs?|fireworks)\b",
    rf"(?:throw|toss|hurl|chuck)\s+(?:\w+\s+){{0,2}}?at\s+{_TARGET}",
    rf"(?:rocks?|stones?|bricks?|bottles?|eggs?)\s+at\s+{_TARGET}",
    # Taking someone back.
    r"(?:pull|drag|get|take|snatch|grab|yank)\s+(?:him|her|them|the (?:man|woman|guy|worker|"
    r"detainee|people|kid|boy|girl)s?)\s+(?:out of|from|back from|away from)\s+"
    r"(?:(?:the|their)\s+)?(?:\w+\s+)?(?:vans?|cars?|trucks?|agents?|hands|ice|officers?|cops?)",
    r"de-?arrest|unarrest",
    r"(?:free|rescue|liberate|break out)\s+(?:him|her|them|the (?:detainees?|men|women|workers?))"
    r"\s+from\s+(?:the|ice|them)",
    # Following home.
    r"follow\s+(?:(?:them|him|her|the (?:\w+\s+)?(?:agents?|officers?|cops?|vans?|cars?|guy)|"
    r"that (?:agent|cop|officer|van|guy))\s+)(?:back\s+)?(?:home|to (?:his|her|their) "
    r"(?:house|home|place|apartment|family))",
    # Spanish.
    r"(?:bloqueen|bloquear|bloqueemos|bloqueenle|bloqueenles|tapen|tapar|tapemos|obstruyan|"
    r"obstruir|atraviesense|atravesarse)\s+(?:le\s+|les\s+)?"
    r"(?:el paso|la salida|las salidas|la calle|el camino|la entrada|las camionetas?|las? vans?|"
    r"los carros|el carro|las? patrullas?|los? vehiculos?|a los agentes|a la migra|a ice|"
    r"las? trocas?|el porton|la reja)\b",
    r"(?:bloqueen|bloqueemos|bloqueenlos|bloqueenlas|tapenles)\b",
    r"(?:cierren|cerrar|cerremos|cierrenles|cerrarles)\s+(?:el paso|la salida)",
    r"(?:ponchen|ponchar|ponchemos|ponchenle|ponchenles|corten|cortar|cortemos|rajen|rajar|"
    r"pinchen|pinchar|pinchemos|desinflen|desinflar|revienten|reventar|acuchillen|navajeen)\s+"
    r"(?:\w+\s+){0,2}?(?:llantas?|gomas?|neumaticos?|ruedas?|rines)\b",
    r"(?:tirenles|tirenle|tiren|tirar|tiremos|tirarles|avientenles|avienten|aventar|aventarles|"
    r"lancen|lanzar|lancenles|lanzarles|arrojen|arrojar|arrojenles|echenles)\s+(?:\w+\s+){0,2}?"
    r"(?:piedras?|ladrillos?|botellas?|huevos?|pintura|cohetes|palos|molotov)\b",
    r"a pedradas|apedreen|apedrear|apedreemos|a huevazos",
    r"(?:rodeenlos|rodeenla|rodeenlo|rodeenlas|rodeemoslos|rodeen|rodeemos|encierrenlos|"
    r"acorralenlos|acorralen|cerquenlos|cerquen)\b",
    r"(?:rodear|encerrar|acorralar|cercar)(?:los|las)?\s+(?:a\s+)?(?:los agentes|la migra|a ice|"
    r"las? camionetas?|las? patrullas?|las? vans?|los oficiales|a los policias)",
    r"no\s+(?:los|las|lo|la|les)\s+dej(?:en|emos|es|e)\s+(?:salir|irse|ir|pasar|llevarse\w*|"
    r"escapar|avanzar|moverse|arrancar)",
    r"no\s+dej(?:en|emos)\s+que\s+(?:se\s+)?(?:lo|la|los|las)?\s*(?:lleven|vayan|salgan|"
    r"escapen|muevan|arranquen)",
    r"(?:detenganlos|detenganlas|parenlos|parenlas|frenenlos|hay que pararlos|hay que detenerlos|"
    r"pararlos|detenerlos|no los dejen ir)\b",
    r"(?:detengan|paren|frenen)\s+(?:a los agentes|a la migra|a ice|las? camionetas?|las? vans?|"
    r"las? patrullas?)",
    r"(?:ataquenlos|ataquen|ataquemos|ataquenles|agarrenlos|peguenles|peguenle|golpeenlos|"
    r"golpeen|madreenlos|madreen|partanles|revientenlos|chinguenlos|matenlos|linchenlos|"
    r"enfrentenlos|echenseles|brinquenles)\b",
    r"(?:atacar|golpear|matar|madrear|enfrentar|agarrar|pegarle|pegarles)\s+a\s+(?:los agentes|"
    r"la migra|ice|los policias|los oficiales|ese agente|esos agentes|el agente)",
    r"(?:quemen|quemar|quememos|incendien|incendiar|prendanle fuego a|prenderle fuego a)\s+"
    r"(?:la|las|el|los|su|sus)\s+(?:patrullas?|camionetas?|vans?|carros?|trocas?|vehiculos?|"
    r"coches?|autos?)",
    r"(?:rompan|romper|rompamos|quiebren|quebrar|revienten|reventar|estrellen|rayen|rayar)\s+"
    r"(?:los|las|el|la|sus|su)\s+(?:vidrios|ventanas|ventanillas|parabrisas|cristales|espejos|"
    r"faros|luces|carro|camioneta|patrulla|troca)\b",
    r"(?:siganlo|siganla|siganlos|siganlas|sigamoslo|sigamoslos|seguirlo|seguirla|seguirlos|"
    r"sigan al agente|sigan a los agentes|sigan a ese \w+|sigan la (?:camioneta|patrulla))\s+"
    r"(?:\w+\s+){0,2}?(?:a su casa|hasta su casa|a donde vive|hasta donde vive|a su domicilio)",
    r"(?:saquenlo|saquenla|saquenlos|sacarlo|sacarla|sacarlos|saquen a \w+)\s+de\s+"
    r"(?:la|las|el|los)\s+(?:camioneta|van|patrulla|troca|carro|vehiculo)",
    r"(?:quitenselo|quitenselos|quitensela|arrebatenselo|arrebatenselos|quitarselo|quitenles|"
    r"arrebatenles)\b",
]
# Matched against lowercased text (below), so without re.I: a regex of this many
# alternatives runs six times faster without case folding at every position.
_INTERFERENCE = re.compile(r"\b(?:" + "|".join(_INTERFERENCE_CALLS) + ")")
# Right before a match, these make it guidance or a report of what agents did, not a call.
_NOT_A_CALL = re.compile(
    r"\b(?:do not|don'?t|dont|never|not|no|nunca|please don'?t|no hay que|nadie|nobody|no one|"
    r"couldn'?t|could not|can'?t|cannot|didn'?t|did not|won'?t|will not|tried to|trying to|"
    r"they|he|she|agents?|officers?|ice|police|cops?|feds|deputies|who|which|migra|vans?|"
    r"ellos|ella|agentes?|policias?|oficial|oficiales|patrullas?|camionetas?|intentaron|quisieron|"
    r"trataron de|no deben|no debemos|no vamos a)\s*$",
)


# What re.I matched to a Latin letter that lower() keeps apart, of what _fold leaves.
_DOTLESS = str.maketrans({"ı": "i"})


def _interference(text: str) -> bool:
    low = text.lower().translate(_DOTLESS)
    for m in _INTERFERENCE.finditer(low):
        before = low[max(0, m.start() - 30) : m.start()]
        phrase = m.group(0)
        if not phrase.startswith(("don", "do not", "no ")) and _NOT_A_CALL.search(before):
            continue
        if phrase.startswith("no ") and re.search(
            r"\b(?:ninos|ninas|hijos|hijas|familia|familias|kids|children|bebes)\b",
            low[max(0, m.start() - 60) : m.start()],
        ):
            continue
        return True
    return False


def screen(text: str) -> Screen:
    """Return whether ``text`` must be held from alerts and public pages, and why."""
    if not text or not text.strip():
        return PASS
    if len(text) > LIMIT:
        return Screen(held=True, reasons=(TOO_LONG,))
    found: set[str] = set()
    for reading in readings(text):
        if OFFICER_NAME not in found and _officer_names(reading):
            found.add(OFFICER_NAME)
        if BADGE_NUMBER not in found and _badge(reading):
            found.add(BADGE_NUMBER)
        if HOME_ADDRESS not in found and _HOME.search(reading):
            found.add(HOME_ADDRESS)
        if SOCIAL_ACCOUNT not in found and _social(reading):
            found.add(SOCIAL_ACCOUNT)
        if FAMILY not in found and _family(reading):
            found.add(FAMILY)
        if DOXXING not in found and _DOXXING.search(reading):
            found.add(DOXXING)
        if INTERFERENCE not in found and _interference(reading):
            found.add(INTERFERENCE)
    if not found:
        return PASS
    return Screen(held=True, reasons=tuple(code for code in REASONS if code in found))


def _family(text: str) -> bool:
    if _FAMILY_DIRECT.search(text):
        return True
    for m in _FAMILY_LOCATED.finditer(text):
        # One officer ("that cop, his kids go to ..."), not an agency: after "ICE took a
        # mother", "her kids go to Lincoln" is about the mother's children.
        if _ONE_OFFICER.search(text[max(0, m.start() - 120) : m.start()]):
            return True
    return False
