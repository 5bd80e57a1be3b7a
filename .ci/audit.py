"""Audit every package pinned in uv.lock against PyPI's vulnerability data.

PyPI's JSON API lists the known advisories (OSV: PYSEC, GHSA) of a release. This asks for
each locked release; where the per-release page is not served (some mirrors only serve a
project's page, which describes its newest release) a pin equal to the newest release is
judged from the project page, and an older pin is reported as unverified.

Exit status: 0 when no locked release has an advisory (unverified pins are listed), 1 when
one has, 2 when PyPI could not be asked. Advisories judged harmless for Tocsin go in
.ci/audit-ignore, one id a line with the reason after a '#'.

    uv run python .ci/audit.py [--lock uv.lock] [--index https://pypi.org/pypi]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Finding:
    name: str
    version: str
    advisories: list[str] = field(default_factory=list)
    unverified: str = ""


class Unreachable(Exception):
    pass


def locked_packages(lock: Path) -> list[tuple[str, str]]:
    """Return (name, version) of every registry package in a uv lock file."""
    data = tomllib.loads(lock.read_text())
    return sorted(
        (p["name"], p["version"])
        for p in data.get("package", [])
        if "registry" in p.get("source", {})
    )


def fetch(url: str, *, tries: int = 3) -> dict | None:
    """Return the JSON at url, None for a 404; raise Unreachable after tries failures."""
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310
                return json.load(response)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            last: Exception = error
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as error:
            last = error
        time.sleep(1 + attempt * 2)
    raise Unreachable(f"{url}: {last}")


def audit(name: str, version: str, *, index: str, ignore: set[str]) -> Finding:
    finding = Finding(name, version)
    release = fetch(f"{index}/{name}/{version}/json")
    if release is None:
        project = fetch(f"{index}/{name}/json")
        if project is None:
            finding.unverified = "not on the index"
            return finding
        newest = project["info"]["version"]
        if newest != version:
            finding.unverified = f"only the newest release ({newest}) is described"
            return finding
        release = project
    for advisory in release.get("vulnerabilities") or []:
        ids = {advisory.get("id", ""), *advisory.get("aliases", [])}
        if advisory.get("withdrawn") or ids & ignore:
            continue
        fixed = ", ".join(advisory.get("fixed_in") or []) or "no fix yet"
        finding.advisories.append(f"{advisory.get('id')} (fixed in: {fixed})")
    return finding


def read_ignore(path: Path) -> set[str]:
    if not path.exists():
        return set()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=HERE.parent / "uv.lock")
    parser.add_argument("--index", default="https://pypi.org/pypi")
    parser.add_argument("--ignore", type=Path, default=HERE / "audit-ignore")
    args = parser.parse_args(argv)

    packages = locked_packages(args.lock)
    ignore = read_ignore(args.ignore)
    try:
        with ThreadPoolExecutor(8) as pool:
            findings = list(
                pool.map(lambda nv: audit(*nv, index=args.index, ignore=ignore), packages)
            )
    except Unreachable as error:
        print(f"audit: could not ask the index: {error}", file=sys.stderr)
        return 2

    vulnerable = [f for f in findings if f.advisories]
    unverified = [f for f in findings if f.unverified]
    for f in unverified:
        print(f"audit: unverified {f.name}=={f.version}: {f.unverified}")
    for f in vulnerable:
        print(f"audit: VULNERABLE {f.name}=={f.version}: {'; '.join(f.advisories)}")
    print(
        f"audit: {len(packages)} locked packages, {len(vulnerable)} with known advisories, "
        f"{len(unverified)} unverified, {len(ignore)} advisories ignored"
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
