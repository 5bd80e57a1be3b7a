"""Static files are collected compressed and served compressed (tocsin/lib/staticfiles.py):
a phone on 3G gets the map library in a third of its size."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from django.contrib.staticfiles import finders
from django.test import Client

from tocsin.lib import staticfiles

GZIP = {"accept-encoding": "gzip, deflate, br"}


def test_collected_files_are_served_gzipped_to_browsers_that_accept_it(
    settings: Any, tmp_path: Path
) -> None:
    settings.STATIC_ROOT = tmp_path / "static"
    staticfiles.collect()
    assert (tmp_path / "static" / "leaflet" / "leaflet.js.gz").is_file()
    source = Path(finders.find("leaflet/leaflet.js")).read_bytes()  # type: ignore[arg-type]

    response = Client().get("/static/leaflet/leaflet.js", headers=GZIP)
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert len(body) < len(source) / 3
    assert gzip.decompress(body) == source

    plain = Client().get("/static/leaflet/leaflet.js")
    assert not plain.has_header("Content-Encoding")
    assert b"".join(plain.streaming_content) == source  # type: ignore[attr-defined]


def test_files_nobody_collected_are_still_served_from_where_they_lie(
    settings: Any, tmp_path: Path
) -> None:
    settings.STATIC_ROOT = tmp_path / "nothing-collected"
    settings.STATIC_ROOT.mkdir()
    response = Client().get("/static/js/report.js", headers=GZIP)
    assert response.status_code == 200
    assert not response.has_header("Content-Encoding")
    source = Path(finders.find("js/report.js")).read_bytes()  # type: ignore[arg-type]
    assert b"".join(response.streaming_content) == source  # type: ignore[attr-defined]
