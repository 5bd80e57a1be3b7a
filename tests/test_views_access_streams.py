"""The authorization matrix for streams: each live route, asked by each persona, answers as
TABLE says (tests/test_views_access.py).

A stream renders its first event in another thread, so the data must be committed. The
scene (two committees, every kind of object, every persona) is built and committed once
for this module, and the database flushed once at its end; the cases run in autocommit,
with nothing to roll back between them: each only asks a stream, as a client that logs
in anew (a session of its own). (Built and flushed per case, the scene was most of the
time of these 50 cases, more so on PostgreSQL, where a flush truncates every table.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from tests.test_views_access import (
    OWNER,
    STREAM_CASES,
    STREAMS,
    Scene,
    _check,
    assert_same_404,
    build_scene,
    fetch,
)
from tocsin.intake.models import Report

# The mark makes pytest-django create the test database; the per-test wrapper it would
# put around each case (building nothing, but flushing every table after it) is replaced
# below.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def scene(django_db_setup: None, django_db_blocker: Any) -> Iterator[Scene]:
    with django_db_blocker.unblock():
        try:
            yield build_scene()
        finally:
            # What a transactional test leaves behind: an empty database for the next one.
            call_command("flush", verbosity=0, interactive=False, reset_sequences=False)


@pytest.fixture
def _django_db_helper(scene: Scene) -> None:
    """The module's committed scene; no flush after each case."""


@pytest.mark.parametrize(("route", "persona", "expected"), STREAM_CASES)
def test_it_answers_each_persona_on_streams(
    scene: Scene, route: str, persona: str, expected: int
) -> None:
    result = fetch(route, scene.east, scene.user(persona))
    _check(result, persona, expected)
    if expected == 200:
        assert result.body.startswith(b"retry: "), result.body[:100]
        assert b"event: update" in result.body


@pytest.mark.parametrize("route", sorted(r for r in OWNER if r in STREAMS))
def test_another_committees_id_gives_the_same_404_as_a_missing_one(
    scene: Scene, route: str
) -> None:
    assert_same_404(scene, route)


def test_the_desk_stream_shows_only_the_dispatchers_committee(scene: Scene) -> None:
    east_receipt = Report.objects.get(pk=scene.east.report).receipt.encode()
    west_receipt = Report.objects.get(pk=scene.west.report).receipt.encode()
    east = fetch("desk_live", scene.east, scene.user("dispatcher"))
    west = fetch("desk_live", scene.east, scene.user("west_dispatcher"))
    assert east_receipt in east.body
    assert west_receipt not in east.body
    assert west_receipt in west.body
    assert east_receipt not in west.body
