"""Every page says what it is in its title (the browser tab, the screen reader's first
words, the history list), not only "Tocsin"."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

TEMPLATES = Path(settings.BASE_DIR) / "templates"
# The home page is Tocsin itself.
HOME = "public/home.html"


def pages() -> list[str]:
    return sorted(
        str(p.relative_to(TEMPLATES))
        for p in TEMPLATES.rglob("*.html")
        if p.read_text().startswith('{% extends "base.html" %}')
    )


@pytest.mark.parametrize("name", [n for n in pages() if n != HOME])
def test_every_page_names_itself_in_its_title(name: str) -> None:
    assert "{% block title %}" in (TEMPLATES / name).read_text(), name
