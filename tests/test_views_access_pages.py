"""The authorization matrix for pages: each route, asked by each persona, answers as TABLE says.

The scene (two committees, every kind of object, every persona) is built once for this
module, in a transaction rolled back at the end; each case runs in a savepoint of its
own, rolled back after it, so what one case's POST changes never reaches the next. (Built
per case, the scene was most of the suite's time: 1,500 cases.) Streams are asked in
test_views_access_streams.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from tests.test_views_access import (
    OWNER,
    PAGE_CASES,
    STREAMS,
    Scene,
    _check,
    assert_same_404,
    build_scene,
    fetch,
)

# The mark makes pytest-django create the test database; the per-test wrapper it would
# put around each case (a transaction of its own, and closing the connection after it,
# which would drop the module's scene) is replaced below by a savepoint.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def scene(django_db_setup: None, django_db_blocker: Any) -> Iterator[Scene]:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_scene()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def _django_db_helper(scene: Scene) -> Iterator[None]:
    savepoint = transaction.savepoint_create()
    try:
        yield
    finally:
        transaction.savepoint_rollback(savepoint)


@pytest.mark.parametrize(("route", "persona", "expected"), PAGE_CASES)
def test_it_answers_each_persona(scene: Scene, route: str, persona: str, expected: int) -> None:
    _check(fetch(route, scene.east, scene.user(persona)), persona, expected)


@pytest.mark.parametrize("route", sorted(r for r in OWNER if r not in STREAMS))
def test_another_committees_id_gives_the_same_404_as_a_missing_one(
    scene: Scene, route: str
) -> None:
    assert_same_404(scene, route)
