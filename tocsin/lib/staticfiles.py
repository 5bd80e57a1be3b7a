"""Static files, compressed once and served compressed.

Phones on 3G pay for every byte: ``collect()`` copies the static files (Tocsin's own, the
map library from django-leaflet, the vector map renderer from npm) into
``TOCSIN_DATA_DIR/static`` with a gzip copy of each text file beside it, and WhiteNoise
sends that copy to every browser that accepts gzip. ``tocsin serve`` and ``tocsin demo``
collect at start, so an upgrade never serves old files; anything not collected (a test
server, a checkout where nobody ran them) is still served, uncompressed, from where it lies.
"""

from __future__ import annotations

from django.core.management import call_command
from whitenoise.middleware import WhiteNoiseMiddleware


def collect() -> None:
    """Copy the static files into STATIC_ROOT, each compressible one with its .gz beside it."""
    call_command("collectstatic", interactive=False, verbosity=0)


class CollectedFirstMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise serving collected (compressed) files first, and the finders' for the rest.

    WhiteNoise lets the finders' files replace the collected ones, and those have no
    compressed copy beside them; here a file collected into STATIC_ROOT wins.
    """

    def add_files_from_finders(self) -> None:
        collected = dict(self.files)
        super().add_files_from_finders()
        self.files.update(collected)
