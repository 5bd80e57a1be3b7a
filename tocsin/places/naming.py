"""Name the place of a report or an incident for each audience, from the gazetteers of
the committees it belongs to (another committee's names never reach its people)."""

from __future__ import annotations

from collections.abc import Iterable

from tocsin import geo
from tocsin.geo.describe import BLOCK, EXACT, PUBLIC, Named, Where, describe
from tocsin.lib import exposure
from tocsin.places.models import Place


class Gazetteer:
    """The named places of some committees, read once to describe many points (a desk
    of cards, an alert rendered in two languages)."""

    def __init__(self, committee_ids: Iterable[int]) -> None:
        self.committee_ids = set(committee_ids)
        self._named: list[Named] | None = None

    @classmethod
    def of(cls, obj: object) -> Gazetteer:
        """Return the gazetteer of a report's or an incident's committees."""
        return cls(obj.committees.values_list("pk", flat=True))  # type: ignore[attr-defined]

    def named(self) -> list[Named]:
        if self._named is None:
            self._named = (
                Place.objects.for_committees(self.committee_ids).named()
                if self.committee_ids
                else []
            )
        return self._named

    def exact(self, cell: int) -> Where:
        """Return the place of ``cell`` (a report's ~25 m cell) for verifiers, responders
        and dispatchers."""
        lat, lng = geo.center(cell)
        return describe(lat, lng, self.named(), precision=EXACT)

    def block(self, cell: int) -> Where:
        """Return the place of ``cell`` for members: described from the centre of its
        block-level cell, so it says nothing the block does not."""
        lat, lng = exposure.block_point(cell)
        return describe(lat, lng, self.named(), precision=BLOCK)

    def area(self, cell: int) -> Where:
        """Return the place of a coarse public ``cell``: the named area nearest its centre
        (``place`` None when no area is near; the caller says it another way)."""
        lat, lng = geo.center(cell)
        return describe(lat, lng, self.named(), precision=PUBLIC)
