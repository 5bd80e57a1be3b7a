"""Every table of more than three columns scrolls inside its own box on a 360 px phone
(``.table-scroll``), so the page itself never scrolls sideways (the committee page's
"Decisions" made it 503 px wide)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TABLE = re.compile(r"<table\b.*?</thead>", re.S)


def wide_tables() -> list[tuple[str, int]]:
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for match in TABLE.finditer(text):
            if len(re.findall(r"<th[\s>]", match.group(0))) > 3:
                found.append((str(path.relative_to(TEMPLATES)), match.start()))
    return found


@pytest.mark.parametrize(("template", "at"), wide_tables())
def test_a_wide_table_scrolls_in_its_own_box(template: str, at: int) -> None:
    before = (TEMPLATES / template).read_text()[:at]
    opened = before.rfind('class="table-scroll"')
    assert opened != -1 and "</div>" not in before[opened:], template


def test_the_check_finds_the_tables() -> None:
    assert len(wide_tables()) >= 5
