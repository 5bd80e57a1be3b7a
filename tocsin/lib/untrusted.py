"""Reading what arrives from outside: JSON bodies and text that may hold anything.

A provider's webhook, a signal-cli answer, a page script's JSON or a proof-of-work
payload can carry what Python reads but no database or hash keeps: NUL, lone surrogates
("\\ud800" is valid JSON), invalid UTF-8, nesting deep enough to exhaust the stack,
numbers of thousands of digits. Everything read from outside goes through here, so every
entry point refuses or cleans it the same way, and nothing later has to.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.http import HttpResponse

# Nesting no provider's payload comes near (Telegram's deepest is about 6).
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


class NotJSON(ValueError):
    """The bytes are not a JSON document Tocsin will read; the message says why."""


def text(value: str) -> str:
    """Return ``value`` without NUL and with each lone surrogate replaced by U+FFFD.

    Both are legal in a Python string and in JSON, and neither can be stored (PostgreSQL
    refuses NUL, UTF-8 has no surrogates) or hashed (``str.encode`` raises)."""
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))


# Characters that change how the text around them is shown without being seen: the bidi
# embeddings, overrides and isolates, and the directional marks. In a name they make
# "Olga" read as another name, or reverse what follows it on the page.
_INVISIBLE = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def name(value: str) -> str:
    """Return a name a person gave (a display name, a contact's name) as plain text: no
    control or bidi characters, spaces collapsed."""
    cleaned = _INVISIBLE.sub("", _CONTROLS.sub(" ", text(value)))
    return " ".join(cleaned.split())


class NameField(forms.CharField):
    """A form field for a name a person gives: cleaned by ``name()`` before it is checked."""

    def to_python(self, value: Any) -> str:
        return name(super().to_python(value) or "")


def load_json(raw: bytes | str) -> Any:
    """Return the JSON document in ``raw`` with every string in it (keys too) cleaned by
    ``text()``; raise NotJSON if it is malformed, nested deeper than MAX_DEPTH or has a
    number too long for Python to convert (over 4300 digits).

    Bytes that are not UTF-8 are replaced, not refused: a gateway that mangles one
    character of a message should still have the rest of it read.
    """
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("utf-8", "replace")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise NotJSON("nested too deep") from None
    except ValueError as e:  # JSONDecodeError, and int()'s refusal of a huge number
        raise NotJSON(str(e).partition(":")[0][:80]) from None
    return _clean(data, 0)


def _clean(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise NotJSON("nested too deep")
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {text(k): _clean(v, depth + 1) for k, v in value.items()}
    return value


def refusal(status: int, reason: str) -> HttpResponse:
    """Return a short plain-text refusal for a provider's webhook call.

    Providers show the body of a failed call in their consoles: it says what was wrong
    with the request (never anything about a person), for the operator who reads it."""
    return HttpResponse(reason + "\n", status=status, content_type="text/plain; charset=utf-8")
