"""Targeting benchmark: who gets a 3 km alert among N synthetic members in Los Angeles.

    uv run python bench/targeting.py                      # 1,000,000 members, 100 alerts
    uv run python bench/targeting.py --members 20000 --alerts 10   # smoke size

Each member has one area: an H3 cell (resolution 8) and a ring 0-3, placed uniformly over
the Los Angeles basin with a fixed seed. For each alert (a random point, radius 3 km) it
times Tocsin's targeting query (tocsin.alerts.targeting.cells_by_reach: one indexed query,
exact) on SQLite and on PostgreSQL, and, on the same members in the same run, what a user
would pick instead: PostGIS ST_DWithin on points in UTM zone 11N (EPSG:26911) with a GiST
index, the table clustered on it, jit off. PostGIS comes from Debian's
postgresql-15-postgis-3; without it that row is skipped with a note.

It also times Tocsin's in-memory index (tocsin.alerts.cellindex, what the web process
uses once it has loaded), including the two small freshness queries it runs before each
answer, and reports the memory the index takes.

It prints the median and p99 per backend and Tocsin's ratio to PostGIS, and checks that
every backend returns the same members for the first alerts.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
os.environ.setdefault("TOCSIN_DATA_DIR", tempfile.mkdtemp(prefix="tocsin-bench-"))

import django  # noqa: E402

django.setup()

from tocsin import geo  # noqa: E402
from tocsin.alerts.cellindex import CellIndex  # noqa: E402
from tocsin.alerts.targeting import cells_by_reach  # noqa: E402

RES = 8
RADIUS_M = 3000
BOX = (33.70, 34.30, -118.67, -117.90)  # lat min/max, lng min/max
EDGE_M = geo._EDGE_M[RES]
SPACING_M = math.sqrt(3) * EDGE_M  # between neighbouring cell centres


def members(n: int, seed: int) -> list[tuple[int, int, int, float, float]]:
    """Return (id, cell, ring, lat, lng) rows: the member's cell centre stands for the member."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        lat, lng = rng.uniform(BOX[0], BOX[1]), rng.uniform(BOX[2], BOX[3])
        cell = geo.cell_at(lat, lng, RES)
        clat, clng = geo.center(cell)
        rows.append((i, cell, rng.randint(0, 3), clat, clng))
    return rows


def alerts(n: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed + 1)
    # Keep alerts inside the box so each has members all around it.
    return [(rng.uniform(33.85, 34.15), rng.uniform(-118.5, -118.05)) for _ in range(n)]


def tocsin_sql(alert: geo.Disk, placeholder: str) -> tuple[str, list[int]]:
    parts, params = [], []
    for min_ring, cells in cells_by_reach(alert).items():
        if not cells:
            continue
        marks = ",".join([placeholder] * len(cells))
        if min_ring:
            parts.append(f"(cell IN ({marks}) AND ring >= {placeholder})")
            params += [*cells, min_ring]
        else:
            parts.append(f"cell IN ({marks})")
            params += list(cells)
    return "SELECT member_id FROM areas WHERE " + " OR ".join(parts), params


def alert_disk(lat: float, lng: float) -> geo.Disk:
    return geo.Disk(geo.cell_at(lat, lng, RES), geo.ring_for_radius(RADIUS_M, RES))


def run_sqlite(rows, points) -> tuple[list[float], list[set[int]]]:  # type: ignore[no-untyped-def]
    path = Path(tempfile.mkdtemp(prefix="tocsin-bench-")) / "bench.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE areas (member_id INTEGER, cell INTEGER, ring INTEGER)")
    db.executemany("INSERT INTO areas VALUES (?, ?, ?)", [(r[0], r[1], r[2]) for r in rows])
    db.execute("CREATE INDEX area_cell_ring ON areas (cell, ring, member_id)")
    db.commit()
    db.execute("ANALYZE")
    return _time(lambda sql, p: db.execute(sql, p).fetchall(), points, "?")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_index(rows, points) -> tuple[list[float], list[set[int]], int]:  # type: ignore[no-untyped-def]
    """Time the in-memory index; each answer first runs the two freshness queries the
    index runs in production (AreaLog state, AreaChange since the watermark)."""
    import gc

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE arealog (id INTEGER PRIMARY KEY, floor INTEGER, generation INTEGER)")
    db.execute("INSERT INTO arealog VALUES (1, 0, 0)")
    db.execute("CREATE TABLE areachange (id INTEGER PRIMARY KEY, member_id INTEGER)")
    gc.collect()
    before = rss_bytes()
    index = CellIndex()
    index.load((r[1], r[2], r[0]) for r in rows)
    gc.collect()
    memory = rss_bytes() - before
    times, results = [], []
    for lat, lng in points:
        start = time.perf_counter()
        db.execute("SELECT floor, generation FROM arealog WHERE id = 1").fetchone()
        db.execute("SELECT id, member_id FROM areachange WHERE id > ? ORDER BY id", (0,)).fetchall()
        match = index.lookup(cells_by_reach(alert_disk(lat, lng)))
        times.append(time.perf_counter() - start)
        # The fan-out hands the ids to the database as they are (a member with two
        # matching areas appears twice, and the INSERT drops the repeat); the set is made
        # here only to compare answers, outside the timing.
        results.append(match.members())
    return times, results, memory


def _time(run, points, placeholder):  # type: ignore[no-untyped-def]
    times, results = [], []
    for lat, lng in points:
        start = time.perf_counter()
        sql, params = tocsin_sql(alert_disk(lat, lng), placeholder)
        found = {r[0] for r in run(sql, params)}
        times.append(time.perf_counter() - start)
        results.append(found)
    return times, results


def pg_connect(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url, autocommit=True)


def run_postgres(url: str, rows, points, *, postgis: bool):  # type: ignore[no-untyped-def]
    conn = pg_connect(url)
    cur = conn.cursor()
    cur.execute("SET jit = off")
    cur.execute("DROP TABLE IF EXISTS areas")
    cur.execute("CREATE UNLOGGED TABLE areas (member_id integer, cell bigint, ring smallint)")
    with cur.copy("COPY areas (member_id, cell, ring) FROM STDIN") as copy:
        for r in rows:
            copy.write_row((r[0], r[1], r[2]))
    cur.execute("CREATE INDEX area_cell_ring ON areas (cell, ring, member_id)")
    cur.execute("VACUUM ANALYZE areas")
    tocsin = _time(lambda sql, p: cur.execute(sql, p).fetchall(), points, "%s")
    gis = None
    if postgis:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        cur.execute("DROP TABLE IF EXISTS gis_areas")
        cur.execute(
            "CREATE UNLOGGED TABLE gis_areas"
            " (member_id integer, radius_m real, lat float8, lng float8)"
        )
        with cur.copy("COPY gis_areas (member_id, radius_m, lat, lng) FROM STDIN") as copy:
            for r in rows:
                # The member's ring as metres: k rings reach up to sqrt(3) k edge lengths.
                copy.write_row((r[0], r[2] * SPACING_M, r[3], r[4]))
        cur.execute(
            "ALTER TABLE gis_areas ADD COLUMN geom geometry(Point, 26911);"
            "UPDATE gis_areas"
            " SET geom = ST_Transform(ST_SetSRID(ST_MakePoint(lng, lat), 4326), 26911);"
            "CREATE INDEX gis_areas_geom ON gis_areas USING gist (geom);"
            "CLUSTER gis_areas USING gis_areas_geom;"
        )
        cur.execute("VACUUM ANALYZE gis_areas")
        # The alert's reach as Tocsin draws it: its ring in metres, as for members.
        reach = geo.ring_for_radius(RADIUS_M, RES) * SPACING_M
        max_r = 3 * SPACING_M
        sql = (
            "SELECT member_id FROM gis_areas, "
            "(SELECT ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 26911) AS p) q "
            "WHERE ST_DWithin(geom, q.p, %s) AND ST_Distance(geom, q.p) <= %s + radius_m"
        )
        times, results = [], []
        for lat, lng in points:
            start = time.perf_counter()
            cur.execute(sql, (lng, lat, reach + max_r, reach))
            results.append({r[0] for r in cur.fetchall()})
            times.append(time.perf_counter() - start)
        gis = (times, results)
    conn.close()
    return tocsin, gis


def have_postgis(url: str) -> bool:
    try:
        conn = pg_connect(url)
        row = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
        ).fetchone()
        conn.close()
        return row is not None
    except Exception:  # noqa: BLE001
        return False


def summary(name: str, times: list[float], floor: float | None) -> str:
    ms = sorted(t * 1000 for t in times)
    median = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, math.ceil(0.99 * len(ms)) - 1)]
    ratio = f"speed vs PostGIS: {floor / median:5.2f}x (goal >= 20x)" if floor else ""
    return f"{name:<26} median {median:8.2f} ms   p99 {p99:8.2f} ms   {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--pg", default=os.environ.get("TOCSIN_BENCH_PG", "postgres://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    rows = members(args.members, args.seed)
    points = alerts(args.alerts, args.seed)
    print(
        f"{args.members:,} members, {args.alerts} alerts of {RADIUS_M / 1000:.0f} km,"
        f" H3 resolution {RES} (made in {time.perf_counter() - t0:.0f} s)"
    )

    sqlite_times, sqlite_found = run_sqlite(rows, points)
    index_times, index_found, index_memory = run_index(rows, points)
    pg_ok = True
    try:
        pg_connect(args.pg).close()
    except Exception as e:  # noqa: BLE001
        pg_ok = False
        print(f"PostgreSQL unreachable at {args.pg}: {type(e).__name__}; PostgreSQL rows skipped")
    pg = gis = None
    if pg_ok:
        postgis = have_postgis(args.pg)
        if not postgis:
            print(
                "PostGIS not installed (Debian: apt-get install postgresql-15-postgis-3);"
                " PostGIS row skipped"
            )
        pg, gis = run_postgres(args.pg, rows, points, postgis=postgis)

    recipients = statistics.median(len(s) for s in sqlite_found)
    print(f"median recipients per alert: {recipients:,.0f}")
    floor = statistics.median(gis[0]) * 1000 if gis else None
    print(summary("Tocsin in-memory index", index_times, floor))
    print(f"{'':<26} index memory {index_memory / 2**20:,.0f} MiB for {len(rows):,} areas")
    print(summary("Tocsin on SQLite", sqlite_times, floor))
    if pg:
        print(summary("Tocsin on PostgreSQL", pg[0], floor))
    if gis:
        print(summary("PostGIS ST_DWithin", gis[0], None))
    # Same answers: Tocsin on both databases exactly; PostGIS measures metres, not cells,
    # so report how far its answer is from Tocsin's.
    assert all(a == b for a, b in zip(sqlite_found, index_found, strict=True)), (
        "the in-memory index and SQLite differ"
    )
    print("Tocsin's in-memory index and SQLite return the same members for every alert")
    if pg:
        assert all(a == b for a, b in zip(sqlite_found, pg[1], strict=True)), (
            "SQLite and PostgreSQL differ"
        )
        print("Tocsin on SQLite and PostgreSQL return the same members for every alert")
    if gis:
        overlap = statistics.median(
            len(a & b) / max(1, len(a | b)) for a, b in zip(sqlite_found, gis[1], strict=True)
        )
        print(f"PostGIS vs Tocsin member sets: median Jaccard overlap {overlap:.3f}")


if __name__ == "__main__":
    main()
