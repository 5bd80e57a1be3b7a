"""docs/data-inventory.md lists every stored field, with its sensitivity and retention.

The test reads the models Django knows and the table rows of the document, and fails
when a field is stored but not listed (someone added a field without deciding how long to
keep it) or listed but gone (the document went stale).
"""

from __future__ import annotations

import re
from pathlib import Path

from django.apps import apps
from django.db import models

DOC = Path(__file__).resolve().parent.parent / "docs" / "data-inventory.md"

# Models outside tocsin.* that hold data about people or reports (django-tasks-db's app
# label is "django_tasks_database").
OTHER_MODELS = {"auth.User", "sessions.Session", "django_tasks_database.DBTaskResult"}
SENSITIVITIES = {"public", "internal", "pseudonymous", "sensitive", "secret", "none"}
ROW = re.compile(r"^\|(.+)\|\s*$")


def stored_fields() -> set[tuple[str, str]]:
    """Return (app_label.Model, field) for every concrete and many-to-many field."""
    found = set()
    for model in apps.get_models():
        label = model._meta.label
        if not (model.__module__.startswith("tocsin.") or label in OTHER_MODELS):
            continue
        fields: list[models.Field] = [*model._meta.concrete_fields, *model._meta.many_to_many]
        found |= {(label, f.name) for f in fields}
    return found


def _cell(text: str) -> str:
    return text.strip().strip("`").strip()


def documented(text: str | None = None) -> list[tuple[str, str, str, str]]:
    """Return (model, field, sensitivity, retention) for every row of the doc's tables."""
    rows = []
    for line in (DOC.read_text() if text is None else text).splitlines():
        match = ROW.match(line.strip())
        if not match:
            continue
        cells = [_cell(c) for c in match.group(1).split("|")]
        if len(cells) != 5 or cells[0] == "model" or set(cells[0]) <= {"-", ":", " "}:
            continue
        rows.append((cells[0], cells[1], cells[2], cells[3]))
    return rows


def test_it_reads_the_tables() -> None:
    rows = documented()
    assert len(rows) > 50
    assert ("intake.Report", "text") in {(m, f) for m, f, _s, _r in rows}


def test_it_notices_a_row_that_is_missing() -> None:
    text = DOC.read_text().replace("| `intake.Report` | `text` |", "| `intake.Report` | `txt` |")
    listed = {(m, f) for m, f, _s, _r in documented(text)}
    assert ("intake.Report", "text") in stored_fields() - listed
    assert ("intake.Report", "txt") in listed - stored_fields()


def test_it_lists_every_stored_field() -> None:
    listed = {(m, f) for m, f, _s, _r in documented()}
    missing = sorted(stored_fields() - listed)
    assert missing == [], "add these fields to docs/data-inventory.md"


def test_it_lists_no_field_that_is_gone() -> None:
    listed = {(m, f) for m, f, _s, _r in documented()}
    stale = sorted(listed - stored_fields())
    assert stale == [], "remove these rows from docs/data-inventory.md"


def test_it_lists_each_field_once() -> None:
    keys = [(m, f) for m, f, _s, _r in documented()]
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []


def test_it_gives_every_field_a_sensitivity_and_a_retention() -> None:
    bad = [
        (m, f)
        for m, f, sensitivity, retention in documented()
        if sensitivity.split(",")[0].strip() not in SENSITIVITIES or not retention
    ]
    assert bad == []


def test_it_covers_the_apps_outside_tocsin() -> None:
    listed = {m for m, _f, _s, _r in documented()}
    assert listed >= OTHER_MODELS
