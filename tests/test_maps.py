"""Street maps Tocsin serves itself from one local map file (TOCSIN_MAP_FILE, PMTiles).

The map file is checked when it is opened (and at start); tiles go out with their type and
HTTP caching; addresses no map has are 404, places the map does not cover are 204; the
tile route reads nothing but the map file; tiles are public and the same for everyone.
Pages say which street layer to draw; with no map, every page still works.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import checks
from django.test import Client
from pmtiles.tile import Compression, TileType, tileid_to_zxy, zxy_to_tileid
from pmtiles.writer import Writer

from tests.factories import EAST, session_for, world
from tests.maps_support import (
    ZOOMS,
    mvt_tile,
    png_tile,
    raster_map,
    tile_at,
    vector_map,
    write_map,
)
from tocsin.geo.mapfile import MapFile, MapFileError, plain_text
from tocsin.public import basemap
from tocsin.public.checks import check_street_maps

Z = 14
X, Y = tile_at(*EAST, Z)


@pytest.fixture
def raster(tmp_path: Path) -> Path:
    return raster_map(tmp_path / "east.pmtiles")


@pytest.fixture
def vector(tmp_path: Path) -> Path:
    return vector_map(tmp_path / "east-vector.pmtiles")


@pytest.fixture
def with_map(settings: Any) -> Any:
    """Serve the given map file, as TOCSIN_MAP_FILE would."""

    def use(path: Path | None) -> None:
        settings.MAP_FILE = path
        settings.TILE_URL = ""

    return use


@pytest.fixture
def renderer(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Say whether protomaps-leaflet is installed (`npm ci`), whatever this machine has."""

    def installed(value: bool) -> None:
        monkeypatch.setattr(basemap, "renderer_installed", lambda: value)

    return installed


# The map file: opened, checked, read.


def test_a_raster_map_file_gives_its_png_tiles(raster: Path) -> None:
    found = MapFile(raster)
    assert (found.format.ext, found.format.kind) == ("png", "raster")
    tile = found.tile(Z, X, Y)
    assert tile is not None
    assert tile.data == png_tile()
    assert tile.encoding == ""
    assert (found.header["min_zoom"], found.header["max_zoom"]) == (min(ZOOMS), max(ZOOMS))


def test_a_vector_map_file_gives_its_tiles_as_stored_gzip(vector: Path) -> None:
    found = MapFile(vector)
    assert (found.format.ext, found.format.kind) == ("mvt", "vector")
    tile = found.tile(Z, X, Y)
    assert tile is not None
    assert tile.encoding == "gzip"
    assert gzip.decompress(tile.data) == mvt_tile()


def test_a_place_or_zoom_the_map_does_not_cover_has_no_tile(raster: Path) -> None:
    found = MapFile(raster)
    assert found.tile(Z, X + 10, Y) is None  # beyond the area
    assert found.tile(max(ZOOMS) + 1, 2 * X, 2 * Y) is None  # deeper than the map goes
    assert found.tile(0, 0, 0) is None


@pytest.mark.parametrize(("z", "x", "y"), [(3, 8, 0), (3, 0, 8), (31, 0, 0), (2, -1, 0)])
def test_an_address_past_the_edge_of_its_zoom_is_refused(
    raster: Path, z: int, x: int, y: int
) -> None:
    with pytest.raises(ValueError):
        MapFile(raster).tile(z, x, y)


def test_a_map_file_with_leaf_directories_is_read(tmp_path: Path) -> None:
    # Thousands of tiles of varied sizes, here and there: the root directory overflows into
    # leaf directories, as in any real metro's file.
    rng = random.Random(14)
    path = tmp_path / "big.pmtiles"
    tiles: dict[int, bytes] = {}
    tile_id = zxy_to_tileid(12, 0, 0)
    while len(tiles) < 20000:
        tile_id += rng.randint(1, 4)
        tiles[tile_id] = rng.randbytes(rng.randint(1, 300))
    with open(path, "wb") as f:
        writer = Writer(f)
        for tile_id, data in tiles.items():
            writer.write_tile(tile_id, data)
        writer.finalize({"tile_type": TileType.PNG, "tile_compression": Compression.NONE}, {})
    found = MapFile(path)
    assert found.header["leaf_directory_length"] > 0
    for tile_id in rng.sample(sorted(tiles), 50):
        tile = found.tile(*tileid_to_zxy(tile_id))
        assert tile is not None
        assert tile.data == tiles[tile_id]
    assert found.tile(*tileid_to_zxy(tile_id + 10**6)) is None


def test_the_attribution_is_shown_as_plain_text(raster: Path) -> None:
    assert MapFile(raster).attribution == "© OpenStreetMap"
    assert plain_text('<b onclick="x()">Map</b> &amp; <script>data</script>') == "Map & data"


def sqlite_file(path: Path) -> Path:
    sqlite3.connect(path).execute("CREATE TABLE tiles (x)").connection.commit()
    return path


def truncated(path: Path) -> Path:
    raster_map(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    return path


def version_2(path: Path) -> Path:
    raster_map(path)
    data = bytearray(path.read_bytes())
    data[7] = 2
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p, "cannot read"),
        (lambda p: (p.write_bytes(b""), p)[1], "is not a PMTiles file"),
        (sqlite_file, "an MBTiles file? convert it"),
        (truncated, "an interrupted download"),
        (version_2, "Tocsin reads version 3"),
        (lambda p: write_map(p, tile_type=TileType.MLT, data=b"x"), "holds tiles of type MLT"),
        (
            lambda p: write_map(
                p, tile_type=TileType.MVT, data=b"x", compression=Compression.BROTLI
            ),
            "compresses its tiles with BROTLI",
        ),
    ],
    ids=["missing", "empty", "mbtiles", "truncated", "v2", "mlt", "brotli"],
)
def test_a_map_file_tocsin_cannot_serve_is_refused_with_the_reason(
    tmp_path: Path, make: Any, reason: str
) -> None:
    path = make(tmp_path / "map.pmtiles")
    with pytest.raises(MapFileError, match=re.escape(reason)):
        MapFile(path)


# Settings, in a fresh process: they read the environment at import.


def settings_process(tmp_path: Path, env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TOCSIN_", "DJANGO_"))}
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "tocsin.settings", "TOCSIN_DATA_DIR": str(tmp_path), **env}
    )
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=django_settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_start_stops_on_a_map_file_it_cannot_serve(tmp_path: Path) -> None:
    bad = tmp_path / "la.pmtiles"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    done = settings_process(tmp_path / "data", {"TOCSIN_MAP_FILE": str(bad)}, "")
    assert done.returncode != 0
    assert "ImproperlyConfigured: TOCSIN_MAP_FILE:" in done.stderr
    assert "is not a PMTiles file" in done.stderr


def test_the_start_stops_on_a_map_file_and_a_tile_server_together(
    tmp_path: Path, raster: Path
) -> None:
    env = {"TOCSIN_MAP_FILE": str(raster), "TOCSIN_TILE_URL": "https://t.example/{z}/{x}/{y}.png"}
    done = settings_process(tmp_path / "data", env, "")
    assert done.returncode != 0
    assert "not both" in done.stderr


def test_a_vector_tile_server_is_let_in_to_be_fetched_not_as_images(tmp_path: Path) -> None:
    env = {"TOCSIN_TILE_URL": "https://tiles.example.org/v/{z}/{x}/{y}.mvt"}
    code = "from django.conf import settings; import json; print(json.dumps(settings.SECURE_CSP))"
    done = settings_process(tmp_path, env, code)
    assert done.returncode == 0, done.stderr
    csp = json.loads(done.stdout.strip().splitlines()[-1])
    assert csp["connect-src"] == ["'self'", "https://tiles.example.org"]
    assert csp["img-src"] == ["'self'", "data:"]


# The tile route.


def test_a_tile_goes_out_with_its_type_and_caching(
    client: Client, with_map: Any, raster: Path
) -> None:
    with_map(raster)
    response = client.get(f"/tiles/{Z}/{X}/{Y}.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content == png_tile()
    assert "public" in response["Cache-Control"]
    assert "max-age=86400" in response["Cache-Control"]
    assert response["ETag"].startswith('"')
    assert "Content-Encoding" not in response


def test_a_tile_the_browser_has_is_not_sent_again(
    client: Client, with_map: Any, raster: Path
) -> None:
    with_map(raster)
    etag = client.get(f"/tiles/{Z}/{X}/{Y}.png")["ETag"]
    again = client.get(f"/tiles/{Z}/{X}/{Y}.png", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag


def test_vector_tiles_go_out_gzip_encoded_as_stored(
    client: Client, with_map: Any, vector: Path
) -> None:
    with_map(vector)
    response = client.get(f"/tiles/{Z}/{X}/{Y}.mvt", headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert gzip.decompress(response.content) == mvt_tile()


def test_vector_tiles_are_unpacked_for_a_client_that_takes_no_gzip(
    client: Client, with_map: Any, vector: Path
) -> None:
    with_map(vector)
    packed = client.get(f"/tiles/{Z}/{X}/{Y}.mvt", headers={"Accept-Encoding": "gzip"})
    plain = client.get(f"/tiles/{Z}/{X}/{Y}.mvt", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in plain
    assert plain.content == mvt_tile()
    assert plain["ETag"] != packed["ETag"]


def test_a_place_the_map_does_not_cover_is_no_content(
    client: Client, with_map: Any, raster: Path
) -> None:
    with_map(raster)
    for path in (f"/tiles/{Z}/{X + 50}/{Y}.png", "/tiles/3/1/2.png", f"/tiles/18/{X}/{Y}.png"):
        response = client.get(path)
        assert response.status_code == 204, path
        assert response.content == b""
        assert "max-age=86400" in response["Cache-Control"]


@pytest.mark.parametrize(
    "path",
    [
        f"/tiles/{Z}/{X}/{Y}.mvt",  # not this map's kind of tile
        f"/tiles/{Z}/{X}/{Y}.PNG",
        f"/tiles/{Z}/{X}/{Y}",
        "/tiles/3/8/0.png",  # x past the edge of zoom 3
        "/tiles/3/0/8.png",
        "/tiles/31/0/0.png",
        "/tiles/99999999999999999999/0/0.png",
        "/tiles/1/-1/0.png",
        "/tiles/a/b/c.png",
        f"/tiles/{Z}/{X}/{Y}.png/",
    ],
)
def test_an_address_no_map_has_is_not_found(
    client: Client, with_map: Any, raster: Path, path: str
) -> None:
    with_map(raster)
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/tiles/../tocsin/settings.py",
        "/tiles/%2e%2e/%2e%2e/pyproject.toml",
        "/tiles/1/0/0.png/../../../../etc/passwd",
        "/tiles/1/0/..%2f..%2fpyproject.toml",
        "/tiles/1/0/0.pmtiles",
        "/tiles/east.pmtiles",
    ],
)
def test_the_tile_route_reads_no_other_file(
    client: Client, with_map: Any, raster: Path, path: str
) -> None:
    with_map(raster)
    response = client.get(path)
    assert response.status_code in (404, 301, 302), path
    assert b"[project]" not in response.content
    assert b"SECRET_KEY" not in response.content
    assert b"PMTiles" not in response.content


def test_without_a_map_file_there_are_no_tiles(client: Client, with_map: Any) -> None:
    with_map(None)
    assert client.get(f"/tiles/{Z}/{X}/{Y}.png").status_code == 404


def test_only_reads_are_answered(client: Client, with_map: Any, raster: Path) -> None:
    with_map(raster)
    assert client.post(f"/tiles/{Z}/{X}/{Y}.png").status_code == 405
    assert client.head(f"/tiles/{Z}/{X}/{Y}.png").status_code == 200


@pytest.mark.django_db
def test_tiles_are_public_and_the_same_for_everyone(with_map: Any, raster: Path) -> None:
    # A street map is public map data: anonymous people, someone of no committee and a
    # dispatcher of another committee all get the same tile (tests/test_views_access.py
    # lists the route as PUBLIC).
    with_map(raster)
    w = world()
    path = f"/tiles/{Z}/{X}/{Y}.png"
    answers = [
        Client().get(path),
        session_for(w.outsider).get(path),
        session_for(w.west_dispatcher).get(path),
        session_for(w.member).get(path),
    ]
    assert {r.status_code for r in answers} == {200}
    assert {r.content for r in answers} == {png_tile()}
    assert {r["ETag"] for r in answers} == {answers[0]["ETag"]}


def test_a_replaced_map_file_is_served_on_the_next_request(
    client: Client, with_map: Any, tmp_path: Path
) -> None:
    live = raster_map(tmp_path / "map.pmtiles")
    with_map(live)
    assert client.get(f"/tiles/{Z}/{X}/{Y}.png").status_code == 200
    os.replace(vector_map(tmp_path / "new.pmtiles"), live)
    assert client.get(f"/tiles/{Z}/{X}/{Y}.png").status_code == 404
    assert client.get(f"/tiles/{Z}/{X}/{Y}.mvt").status_code == 200


def test_a_broken_replacement_keeps_the_last_good_map(
    client: Client, with_map: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = raster_map(tmp_path / "map.pmtiles")
    with_map(live)
    assert client.get(f"/tiles/{Z}/{X}/{Y}.png").status_code == 200
    broken = tmp_path / "broken.pmtiles"
    broken.write_bytes(b"<html>503 Service Unavailable</html>")
    os.replace(broken, live)
    assert client.get(f"/tiles/{Z}/{X}/{Y}.png").content == png_tile()
    assert client.get(f"/tiles/{Z}/{X}/{Y}.png").content == png_tile()
    refusals = [r for r in caplog.records if "map file not reopened" in r.getMessage()]
    assert len(refusals) == 1


# Pages: which street layer their maps draw.


def basemap_of(client: Client, path: str = "/report/") -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200
    found = re.search(r'<script src="[^"]*basemap\.js" data-basemap="([^"]*)"', response.text)
    assert found, "the page has no basemap script"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def scripts_of(client: Client, path: str = "/report/") -> list[str]:
    return re.findall(r'<script src="([^"]+)"', client.get(path).text)


@pytest.mark.django_db
def test_a_map_page_draws_tocsins_own_tiles_with_the_credit(
    client: Client, with_map: Any, raster: Path
) -> None:
    with_map(raster)
    config = basemap_of(client)
    assert config["tiles"] == "/tiles/{z}/{x}/{y}.png"
    assert config["kind"] == "raster"
    assert config["maxZoom"] == max(ZOOMS)
    assert config["attribution"] == "© OpenStreetMap"
    assert not any("protomaps" in s for s in scripts_of(client))


@pytest.mark.django_db
def test_the_operator_can_word_the_credit(
    client: Client, with_map: Any, raster: Path, settings: Any
) -> None:
    with_map(raster)
    settings.MAP_ATTRIBUTION = "Map data © OpenStreetMap contributors, ODbL"
    assert basemap_of(client)["attribution"] == "Map data © OpenStreetMap contributors, ODbL"


@pytest.mark.django_db
def test_a_vector_map_page_loads_the_renderer_from_tocsin(
    client: Client, with_map: Any, vector: Path, renderer: Any
) -> None:
    with_map(vector)
    renderer(True)
    config = basemap_of(client, "/report/")
    assert config["tiles"] == "/tiles/{z}/{x}/{y}.mvt"
    assert config["kind"] == "vector"
    scripts = scripts_of(client)
    renderer_at = scripts.index("/static/protomaps-leaflet/protomaps-leaflet.js")
    # After Leaflet, which it extends; before the script that uses it.
    assert scripts.index("/static/leaflet/leaflet.js") < renderer_at
    assert renderer_at < next(i for i, s in enumerate(scripts) if s.endswith("basemap.js"))


@pytest.mark.django_db
def test_a_vector_map_without_its_renderer_shows_no_streets(
    client: Client, with_map: Any, vector: Path, renderer: Any
) -> None:
    with_map(vector)
    renderer(False)
    assert basemap_of(client) == {}
    assert not any("protomaps" in s for s in scripts_of(client))


@pytest.mark.django_db
def test_the_operators_tile_server_is_drawn(client: Client, settings: Any) -> None:
    settings.MAP_FILE = None
    settings.TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    settings.TILE_KIND = "raster"
    config = basemap_of(client)
    assert config["tiles"] == "https://tiles.example.org/{z}/{x}/{y}.png"
    assert config["attribution"] == "© OpenStreetMap contributors"


@pytest.mark.django_db
def test_the_credit_is_in_the_readers_language(settings: Any) -> None:
    settings.MAP_FILE = None
    settings.TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    settings.TILE_KIND = "raster"
    spanish = Client(headers={"Accept-Language": "es"})
    assert basemap_of(spanish)["attribution"] == "© colaboradores de OpenStreetMap"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/report/", "/me/"])
def test_with_no_map_at_all_map_pages_still_work(with_map: Any, path: str) -> None:
    with_map(None)
    client = session_for(world().member)
    response = client.get(path)
    assert response.status_code == 200
    assert 'data-basemap="{}"' in response.text


# What the operator is told.


def test_the_check_says_maps_show_no_streets_without_a_map(with_map: Any) -> None:
    with_map(None)
    found = check_street_maps()
    assert [m.id for m in found] == ["maps.I001"]
    assert found[0].level == checks.INFO
    assert "Maps show no streets" in found[0].msg
    assert "docs/operations.md" in (found[0].hint or "")


def test_the_check_warns_when_a_vector_map_cannot_be_drawn(
    with_map: Any, vector: Path, renderer: Any
) -> None:
    with_map(vector)
    renderer(False)
    found = check_street_maps()
    assert [m.id for m in found] == ["maps.W001"]
    assert "npm ci" in (found[0].hint or "")
    renderer(True)
    assert check_street_maps() == []


def test_the_check_warns_when_a_vector_tile_server_cannot_be_drawn(
    settings: Any, renderer: Any
) -> None:
    settings.MAP_FILE = None
    settings.TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.mvt"
    settings.TILE_KIND = "vector"
    renderer(False)
    assert [m.id for m in check_street_maps()] == ["maps.W001"]
    assert "npm ci" in basemap.describe()


def test_the_check_is_quiet_with_a_raster_map(with_map: Any, raster: Path) -> None:
    with_map(raster)
    assert check_street_maps() == []


def test_the_start_line_says_where_the_streets_come_from(
    with_map: Any, raster: Path, vector: Path, renderer: Any
) -> None:
    with_map(None)
    assert "TOCSIN_MAP_FILE" in basemap.describe()
    with_map(raster)
    assert basemap.describe() == f"Street maps: {raster} (raster, png tiles, zoom 12-15)."
    with_map(vector)
    renderer(False)
    assert "npm ci" in basemap.describe()


def test_the_demo_says_how_to_get_streets_for_los_angeles(with_map: Any, raster: Path) -> None:
    from tocsin.cli import _street_maps

    with_map(None)
    line = _street_maps(demo=True)
    assert "TOCSIN_MAP_FILE" in line
    assert "README, 'Street maps in the demo'" in line
    with_map(raster)
    assert _street_maps(demo=True) == basemap.describe()
