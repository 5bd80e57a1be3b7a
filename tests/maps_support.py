"""Small PMTiles map files for the tests, written with the ``pmtiles`` package's writer.

No test downloads a map: a raster file holds Pillow-drawn PNGs (a grey block with one
dark "street" across it), a vector file holds hand-encoded Mapbox Vector Tiles (a land
polygon and a grid of major roads, in the layers the Protomaps basemap uses), both over East's
area at a few zoom levels.
"""

from __future__ import annotations

import gzip
import io
import math
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageDraw
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from tests.factories import EAST

OSM_HTML = '<a href="https://www.openstreetmap.org/copyright">&copy; OpenStreetMap</a>'
ZOOMS = (12, 13, 14, 15)
STREET = (40, 40, 40)
BLOCK = (200, 200, 200)


def tile_at(lat: float, lng: float, z: int) -> tuple[int, int]:
    """Return the x/y of the web-mercator tile holding the point at zoom ``z``."""
    n = 1 << z
    x = int((lng + 180) / 360 * n)
    lat_r = math.radians(lat)
    y = int((1 - math.asinh(math.tan(lat_r)) / math.pi) / 2 * n)
    return x, y


def around(lat: float, lng: float, zooms: Iterable[int], ring: int) -> list[tuple[int, int, int]]:
    """Return the tiles within ``ring`` tiles of the point, at each zoom."""
    out = []
    for z in zooms:
        cx, cy = tile_at(lat, lng, z)
        out += [
            (z, x, y)
            for x in range(cx - ring, cx + ring + 1)
            for y in range(cy - ring, cy + ring + 1)
        ]
    return out


def png_tile(size: int = 256) -> bytes:
    """Return a PNG map tile: a grey block with a dark street across it."""
    image = Image.new("RGB", (size, size), BLOCK)
    ImageDraw.Draw(image).line([(0, size // 2), (size, size // 2)], fill=STREET, width=size // 8)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# Mapbox Vector Tile, protocol buffers by hand: just the fields a renderer needs.


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (strings, messages, packed numbers)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _number(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 31)


def _geometry(points: list[tuple[int, int]], *, close: bool) -> bytes:
    """MoveTo the first point, LineTo the rest, ClosePath for a polygon ring."""
    commands = [1 | 1 << 3]
    x0, y0 = points[0]
    commands += [_zigzag(x0), _zigzag(y0)]
    commands.append(2 | (len(points) - 1) << 3)
    for x, y in points[1:]:
        commands += [_zigzag(x - x0), _zigzag(y - y0)]
        x0, y0 = x, y
    if close:
        commands.append(7 | 1 << 3)
    return b"".join(_varint(c) for c in commands)


def _layer(
    name: str, geom_type: int, shapes: list[list[tuple[int, int]]], tags: dict[str, str]
) -> bytes:
    """A layer of features with the same tags, one per shape."""
    keys = list(tags)
    values = [tags[k] for k in keys]
    features = [
        _number(1, n + 1)
        + _field(2, b"".join(_varint(i) + _varint(i) for i in range(len(keys))))
        + _number(3, geom_type)
        + _field(4, _geometry(points, close=geom_type == 3))
        for n, points in enumerate(shapes)
    ]
    return (
        _number(15, 2)
        + _field(1, name.encode())
        + b"".join(_field(2, f) for f in features)
        + b"".join(_field(3, k.encode()) for k in keys)
        + b"".join(_field(4, _field(1, v.encode())) for v in values)
        + _number(5, 4096)
    )


def mvt_tile() -> bytes:
    """Return a vector tile: land over the whole tile and a grid of major roads on it.

    The land ring runs clockwise on screen (y down), as the spec wants of an outer ring.
    """
    land = _layer("earth", 3, [[(0, 0), (4096, 0), (4096, 4096), (0, 4096)]], {"kind": "earth"})
    lines = [[(0, c), (4096, c)] for c in (512, 1536, 2560, 3584)]
    lines += [[(c, 0), (c, 4096)] for c in (512, 1536, 2560, 3584)]
    road = _layer("roads", 2, lines, {"kind": "major_road", "name": "Cesar Chavez Avenue"})
    return _field(3, land) + _field(3, road)


def write_map(
    path: Path,
    *,
    tile_type: TileType,
    data: bytes,
    compression: Compression = Compression.NONE,
    zooms: Iterable[int] = ZOOMS,
    ring: int = 2,
    metadata: dict[str, object] | None = None,
) -> Path:
    """Write a PMTiles file with ``data`` as every tile around East; return its path."""
    tiles = sorted(zxy_to_tileid(*t) for t in around(*EAST, zooms, ring))
    with open(path, "wb") as f:
        writer = Writer(f)
        for tile_id in tiles:
            writer.write_tile(tile_id, data)
        lat, lng = EAST
        writer.finalize(
            {
                "tile_type": tile_type,
                "tile_compression": compression,
                "min_lon_e7": int((lng - 0.1) * 1e7),
                "min_lat_e7": int((lat - 0.1) * 1e7),
                "max_lon_e7": int((lng + 0.1) * 1e7),
                "max_lat_e7": int((lat + 0.1) * 1e7),
                "center_zoom": 14,
                "center_lon_e7": int(lng * 1e7),
                "center_lat_e7": int(lat * 1e7),
            },
            {"attribution": OSM_HTML} if metadata is None else metadata,
        )
    return path


def raster_map(path: Path, **options: object) -> Path:
    return write_map(path, tile_type=TileType.PNG, data=png_tile(), **options)  # type: ignore[arg-type]


def vector_map(path: Path, **options: object) -> Path:
    """A vector map as `pmtiles extract` writes one: gzip-compressed tiles."""
    return write_map(
        path,
        tile_type=TileType.MVT,
        data=gzip.compress(mvt_tile(), mtime=0),
        compression=Compression.GZIP,
        **options,  # type: ignore[arg-type]
    )
