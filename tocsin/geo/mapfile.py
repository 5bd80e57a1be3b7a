"""One local map file (PMTiles): the street map Tocsin serves itself, tile by tile.

A PMTiles archive is one file holding every tile of a map, raster (PNG, JPEG, WebP,
AVIF) or vector (Mapbox Vector Tiles), with a directory to find each by zoom and x/y.
The operator downloads it once for their metro; Tocsin answers /tiles/{z}/{x}/{y}.{ext}
from it, so no page ever asks a third party for a map. The format is parsed by the
``pmtiles`` package (Protomaps' own reader); this module adds what a server needs on
top: a strict check of the file when it is opened, a bounded cache of the directories
it reads, and reads that never crash the process if the file changes under it.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from pmtiles.tile import (
    Compression,
    Entry,
    MagicNumberNotFound,
    SpecVersionUnsupported,
    TileType,
    deserialize_directory,
    deserialize_header,
    find_tile,
    zxy_to_tileid,
)

HEADER_BYTES = 127
# Zoom 30 is about 4 cm a pixel at the equator, far past any street map; PMTiles tile
# ids stop at zoom 31.
MAX_ZOOM = 30
# Leaf directories kept decoded in memory: a metro's archive has a handful; a planet
# file read at street level touches a few at a time.
DIRECTORY_CACHE = 64
# Directories can nest this deep (the PMTiles spec: root, then up to three leaf levels).
MAX_DEPTH = 4


class MapFileError(ValueError):
    """A map file Tocsin cannot serve, with the reason in words an operator can act on."""


@dataclass(frozen=True)
class TileFormat:
    ext: str
    content_type: str
    kind: str  # "raster" (an image per tile, drawn by Leaflet) or "vector" (drawn in the page)


FORMATS = {
    TileType.PNG: TileFormat("png", "image/png", "raster"),
    TileType.JPEG: TileFormat("jpg", "image/jpeg", "raster"),
    TileType.WEBP: TileFormat("webp", "image/webp", "raster"),
    TileType.AVIF: TileFormat("avif", "image/avif", "raster"),
    TileType.MVT: TileFormat("mvt", "application/vnd.mapbox-vector-tile", "vector"),
}
# Tiles are stored as they are sent; gzip goes out as Content-Encoding: gzip.
ENCODINGS = {Compression.NONE: "", Compression.GZIP: "gzip"}


@dataclass(frozen=True)
class Tile:
    data: bytes
    encoding: str  # "" or "gzip"
    etag: str


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(markup: str) -> str:
    """Return the text of an attribution written in HTML ("<a href=…>© OpenStreetMap</a>").

    Maps show attribution as text only: a link in a map file would be markup an operator
    never wrote, and following it is a request to a third party.
    """
    parser = _TextOnly()
    parser.feed(markup)
    parser.close()
    return " ".join(html.unescape("".join(parser.parts)).split())


class MapFile:
    """An open PMTiles archive, checked when opened.

    ``tile()`` is safe to call from several threads. Reads go through one file handle
    under a lock (not mmap: a file truncated under an mmap kills the process with SIGBUS;
    a short read here is only a missing tile).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = open(path, "rb")  # noqa: SIM115 (kept open for the server's life)
            self.stat = os.fstat(self._file.fileno())
        except OSError as e:
            raise MapFileError(f"cannot read {path}: {e.strerror or e}") from None
        self._lock = threading.Lock()
        self._directories: OrderedDict[tuple[int, int], list[Entry]] = OrderedDict()
        try:
            self._check()
        except BaseException:
            self._file.close()
            raise

    def _check(self) -> None:
        size = self.stat.st_size
        raw = self._read(0, HEADER_BYTES)
        if len(raw) < HEADER_BYTES:
            raise MapFileError(f"{self.path} is not a PMTiles file (only {size} bytes)")
        try:
            header = deserialize_header(raw)
        except MagicNumberNotFound:
            raise MapFileError(
                f"{self.path} is not a PMTiles file (an MBTiles file? convert it: see "
                "docs/operations.md, Street maps)"
            ) from None
        except SpecVersionUnsupported:
            raise MapFileError(
                f"{self.path} is PMTiles version {raw[7]}; Tocsin reads version 3 "
                "(`pmtiles convert` upgrades older files)"
            ) from None
        except ValueError as e:
            raise MapFileError(f"{self.path} has a damaged header ({e})") from None
        self.header = header
        fmt = FORMATS.get(header["tile_type"])
        if fmt is None:
            known = ", ".join(f.ext for f in FORMATS.values())
            raise MapFileError(
                f"{self.path} holds tiles of type {header['tile_type'].name}; Tocsin serves {known}"
            )
        self.format = fmt
        if header["tile_compression"] not in ENCODINGS:
            raise MapFileError(
                f"{self.path} compresses its tiles with {header['tile_compression'].name}; "
                "Tocsin serves uncompressed or gzip tiles (as `pmtiles extract` writes them)"
            )
        self.encoding = ENCODINGS[header["tile_compression"]]
        if header["internal_compression"] != Compression.GZIP:
            raise MapFileError(
                f"{self.path} compresses its directories with "
                f"{header['internal_compression'].name}; Tocsin reads gzip directories"
            )
        ends = (
            header["root_offset"] + header["root_length"],
            header["metadata_offset"] + header["metadata_length"],
            header["leaf_directory_offset"] + header["leaf_directory_length"],
            header["tile_data_offset"] + header["tile_data_length"],
        )
        if max(ends) > size:
            raise MapFileError(
                f"{self.path} is shorter ({size} bytes) than its header says "
                f"({max(ends)} bytes): an interrupted download? Fetch it again"
            )
        if not header["min_zoom"] <= header["max_zoom"] <= MAX_ZOOM:
            raise MapFileError(
                f"{self.path} has zoom levels {header['min_zoom']} to {header['max_zoom']}; "
                f"Tocsin serves zoom 0 to {MAX_ZOOM}"
            )
        if header["addressed_tiles_count"] == 0:
            raise MapFileError(f"{self.path} holds no tiles")
        try:
            self._directory(header["root_offset"], header["root_length"])
            self.metadata = self._metadata()
        except (OSError, EOFError, ValueError, zlib.error) as e:
            raise MapFileError(f"{self.path} is damaged ({e})") from None

    def _read(self, offset: int, length: int) -> bytes:
        with self._lock:
            self._file.seek(offset)
            return self._file.read(length)

    def _metadata(self) -> dict[str, object]:
        raw = self._read(self.header["metadata_offset"], self.header["metadata_length"])
        if not raw:
            return {}
        data = json.loads(zlib.decompress(raw, wbits=31))
        return data if isinstance(data, dict) else {}

    def _directory(self, offset: int, length: int) -> list[Entry]:
        key = (offset, length)
        with self._lock:
            found = self._directories.get(key)
            if found is not None:
                self._directories.move_to_end(key)
                return found
        entries = deserialize_directory(self._read(offset, length))
        with self._lock:
            self._directories[key] = entries
            while len(self._directories) > DIRECTORY_CACHE:
                self._directories.popitem(last=False)
        return entries

    @property
    def attribution(self) -> str:
        """Return the attribution the file's metadata asks for, as plain text ("" if none)."""
        value = self.metadata.get("attribution")
        return plain_text(value) if isinstance(value, str) else ""

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Return the area the file covers: west, south, east, north, in degrees."""
        h = self.header
        return (
            h["min_lon_e7"] / 1e7,
            h["min_lat_e7"] / 1e7,
            h["max_lon_e7"] / 1e7,
            h["max_lat_e7"] / 1e7,
        )

    def tile(self, z: int, x: int, y: int) -> Tile | None:
        """Return the tile at z/x/y as stored, or None where the map has none.

        Raises ValueError for an address no map can have (x or y past 2**z - 1).
        """
        if not 0 <= z <= MAX_ZOOM or x < 0 or y < 0:
            raise ValueError(f"no tile {z}/{x}/{y}")
        tile_id = zxy_to_tileid(z, x, y)
        h = self.header
        if not h["min_zoom"] <= z <= h["max_zoom"]:
            return None
        offset, length = h["root_offset"], h["root_length"]
        try:
            for _ in range(MAX_DEPTH):
                entry = find_tile(self._directory(offset, length), tile_id)
                if entry is None:
                    return None
                if entry.run_length:
                    data = self._read(h["tile_data_offset"] + entry.offset, entry.length)
                    if len(data) != entry.length:
                        return None  # the file changed under us: no tile, not a crash
                    etag = hashlib.blake2b(data, digest_size=12).hexdigest()
                    return Tile(data, self.encoding, etag)
                offset, length = h["leaf_directory_offset"] + entry.offset, entry.length
        except (EOFError, zlib.error, OSError):
            return None
        return None

    def close(self) -> None:
        self._file.close()
