"""Hostile inputs for the fuzz tests of every inbound parser (tests/test_inbound_fuzz.py),
and the check that a refused request wrote nothing.

The strategies aim at what broke parsers before: lone surrogates ("\\ud800" in JSON),
NUL, invalid UTF-8, nesting deep enough to exhaust the stack, numbers of thousands of
digits, wrong types at every key, very long strings, non-BMP emoji, bidi marks and mixed
scripts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.apps import apps
from django.conf import settings
from django.db import connection
from hypothesis import strategies as st

from tocsin.hooks import inbound
from tocsin.intake.models import Report, ReportPhoto

NASTY = [
    "",
    " ",
    "\x00",
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\udc80\ud800",
    "STOP\x00",
    "\x00STOP",
    "ST\ud800OP",
    "\u202e1\u202c",
    "\u200f\u200e\u2066REPORT\u2069",
    "\ufeffHELP",
    "🚨📹 redada",
    "𝕊𝕋𝕆ℙ",
    "ＳＴＯＰ",
    "ＲＥＰＯＲＴＥ dos camionetas",
    "REPORTE ラ raid Ωμέγα עברית عربى 中文",
    "REPORT \ud83d\ude80 vans",  # a surrogate pair written as two lone halves
    "\r\n\t",
    "1" * 5000,
    "REPORT " + "y" * 20_000,
    "x" * 70_000,
    "%00%ff%ud800",
    "+1 (310) 555-0100",
    "+13105550100\x00",
    "+1310555\ud8000100",
]
SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])
# Every word the keyword router knows, in both languages and a few spellings.
WORDS = sorted({w for words in inbound.KEYWORDS.values() for w in words})
KEYWORD = st.sampled_from(WORDS).flatmap(
    lambda w: st.sampled_from([w, w.upper(), w.title(), f"{w}.", f"¡{w}!", f"/{w}"])
)
TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=200),
    st.text(
        alphabet=st.characters() | SURROGATE | st.sampled_from("\x00\u202e\u200f"), max_size=50
    ),
)
# What a person may send: a keyword, a separator, and anything after it.
MESSAGE = st.one_of(
    TEXT,
    KEYWORD,
    st.builds(
        lambda k, sep, rest: k + sep + rest,
        KEYWORD,
        st.sampled_from([" ", "  ", "\x00", "\u00a0", "\n", ""]),
        TEXT,
    ),
)
NUMBER = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.floats(allow_nan=False),
    st.sampled_from([0, -1, 2**63, 2**64 + 1, True, False]),
)
LEAF = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
JSON = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)


def field(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Return the right kind of value for a key, or anything else at all."""
    return st.one_of(right, right, JSON)


MISSING = object()


def mutated(
    valid: dict[str, st.SearchStrategy[Any]], hostile: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """Return forms whose fields are valid but for up to two, which are hostile or missing:
    one bad field at a time reaches the code behind the checks of the others."""

    def build(bad: set[str]) -> st.SearchStrategy[dict[str, Any]]:
        fields = {
            key: (hostile[key] | st.just(MISSING)) if key in bad else right
            for key, right in valid.items()
        }
        return st.fixed_dictionaries(fields).map(
            lambda d: {k: v for k, v in d.items() if v is not MISSING}
        )

    return st.sets(st.sampled_from(sorted(hostile)), max_size=2).flatmap(build)


def deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


# JSON texts no decoder should be trusted with.
HOSTILE_JSON = st.sampled_from(
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"[" * 5000,
        deep(3000),
        deep(50),
        b'{"from": "+13105550100", "text": "1", "id": ' + b"9" * 5000 + b"}",
        b'{"from": "+13105550100", "text": "1", "id": ' + b"9" * 4000 + b"}",
        b'{"from": "+13105550100", "text": "1", "id": 1e99999}',
        b'{"from": "+13105550100", "text": "1", "id": NaN}',
        b'{"from": "+13105550100", "text": "STOP\xff\xfe", "id": "x"}',
        b'{"from": "+13105550100", "text": "STOP\xed\xa0\x80", "id": "x"}',
        b'\xef\xbb\xbf{"from": "+13105550100", "text": "STOP", "id": "x"}',
        b'{"from": "+13105550100", "text": "\\u0000STOP", "id": "\\ud800"}',
        '{"text": "1"}'.encode("utf-16"),
        b"",
        b"null",
        b"\x00",
        b'"\\ud800"',
    ]
)


def json_bytes(doc: Any, style: str) -> bytes:
    """Return ``doc`` as JSON: escaped ASCII (lone surrogates as \\ud800), or raw UTF-8
    with lone surrogates written as the invalid bytes a broken encoder emits."""
    if style == "ascii":
        return json.dumps(doc).encode()
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


JSON_STYLE = st.sampled_from(["ascii", "raw"])


def form_bytes(params: dict[str, Any]) -> bytes:
    """Return ``params`` url-encoded; lone surrogates become invalid UTF-8 escapes."""
    pairs = []
    for key, value in params.items():
        k = quote(str(key).encode("utf-8", "surrogatepass"), safe="")
        v = quote(str(value).encode("utf-8", "surrogatepass"), safe="")
        pairs.append(f"{k}={v}")
    return "&".join(pairs).encode()


def snapshot() -> dict[str, Any]:
    """Return the number of rows of every table and the photo files on disk."""
    # One query for all the tables, not one each: a fuzz test takes a snapshot before
    # every example and after every refused one, and on PostgreSQL the 70-odd round
    # trips were most of an example's time.
    models = apps.get_models(include_auto_created=True)
    quote_name = connection.ops.quote_name
    counts_sql = ", ".join(f"(SELECT COUNT(*) FROM {quote_name(m._meta.db_table)})" for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts_sql}")  # noqa: S608 (table names from the models)
        row = cursor.fetchone()
    counts: dict[str, Any] = {m._meta.label: n for m, n in zip(models, row, strict=True)}
    counts["files"] = photo_files()
    return counts


def photo_files() -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def assert_whole() -> None:
    """Assert that what is stored holds together: every photo row has its file and every
    file its row, every report from a phone or chat can be answered, and no stored text
    carries NUL or a lone surrogate."""
    rows = sorted(ReportPhoto.objects.values_list("file", flat=True))
    assert rows == photo_files()
    for report in Report.objects.filter(channel__in=["sms", "signal", "telegram"]):
        assert hasattr(report, "contact"), report.channel
    for text in Report.objects.values_list("text", flat=True):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogate


def assert_clear(response: Any) -> None:
    """Assert the answer is a 2xx, a redirect or a 4xx, and that a refusal says why."""
    assert response.status_code < 500, response.status_code
    if response.status_code >= 400:
        assert response.content.strip(), response.status_code
