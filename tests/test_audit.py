"""The dependency audit in CI (.ci/audit.py), against a local index that speaks PyPI's JSON API."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent

LOCK = """
version = 1
[[package]]
name = "django"
version = "6.1.3"
source = { registry = "https://pypi.org/simple" }
[[package]]
name = "oldlib"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
[[package]]
name = "tocsin"
version = "0.1.0"
source = { editable = "." }
"""


def load_audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["ci_audit"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class Index:
    """Return PyPI JSON pages from a dict of path -> document; anything else is a 404."""

    def __init__(self) -> None:
        self.pages: dict[str, dict] = {}
        self.asked: list[str] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index.asked.append(self.path)
                page = index.pages.get(self.path)
                body = json.dumps(page).encode() if page is not None else b"{}"
                self.send_response(200 if page is not None else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/pypi"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def index() -> Iterator[Index]:
    peer = Index()
    yield peer
    peer.server.shutdown()


def advisory(id_: str, *, fixed: list[str], aliases: list[str] | None = None) -> dict:
    return {"id": id_, "aliases": aliases or [], "fixed_in": fixed, "withdrawn": None}


def run(tmp_path: Path, index: Index, ignore: str = "") -> tuple[int, str]:
    (tmp_path / "uv.lock").write_text(LOCK)
    (tmp_path / "ignore").write_text(ignore)
    audit = load_audit()
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = audit.main(
            [
                "--lock",
                str(tmp_path / "uv.lock"),
                "--index",
                index.url,
                "--ignore",
                str(tmp_path / "ignore"),
            ]
        )
    return code, out.getvalue()


def test_it_passes_when_no_locked_release_has_an_advisory(tmp_path, index) -> None:
    index.pages["/pypi/django/6.1.3/json"] = {"info": {"version": "6.1.3"}, "vulnerabilities": []}
    index.pages["/pypi/oldlib/1.0/json"] = {"info": {"version": "1.0"}, "vulnerabilities": []}
    code, out = run(tmp_path, index)
    assert code == 0
    assert "2 locked packages, 0 with known advisories" in out
    assert not any("tocsin" in path for path in index.asked)


def test_it_fails_on_a_locked_release_with_an_advisory(tmp_path, index) -> None:
    index.pages["/pypi/django/6.1.3/json"] = {"info": {"version": "6.1.3"}, "vulnerabilities": []}
    index.pages["/pypi/oldlib/1.0/json"] = {
        "info": {"version": "1.0"},
        "vulnerabilities": [advisory("PYSEC-2026-1", fixed=["1.1"])],
    }
    code, out = run(tmp_path, index)
    assert code == 1
    assert "VULNERABLE oldlib==1.0: PYSEC-2026-1 (fixed in: 1.1)" in out


def test_it_judges_the_newest_release_from_the_project_page(tmp_path, index) -> None:
    # A mirror that serves only project pages: django is the newest, so its page counts.
    index.pages["/pypi/django/json"] = {
        "info": {"version": "6.1.3"},
        "vulnerabilities": [advisory("GHSA-xxxx", fixed=[])],
    }
    index.pages["/pypi/oldlib/json"] = {"info": {"version": "2.0"}, "vulnerabilities": []}
    code, out = run(tmp_path, index)
    assert code == 1
    assert "VULNERABLE django==6.1.3: GHSA-xxxx (fixed in: no fix yet)" in out
    assert "unverified oldlib==1.0: only the newest release (2.0) is described" in out


def test_an_ignored_advisory_does_not_fail_by_its_alias(tmp_path, index) -> None:
    index.pages["/pypi/django/6.1.3/json"] = {
        "info": {"version": "6.1.3"},
        "vulnerabilities": [advisory("PYSEC-1", fixed=[], aliases=["CVE-2026-9"])],
    }
    index.pages["/pypi/oldlib/1.0/json"] = {"info": {"version": "1.0"}, "vulnerabilities": []}
    code, _ = run(tmp_path, index, ignore="CVE-2026-9  # not reachable from Tocsin\n")
    assert code == 0


def test_it_fails_when_the_index_cannot_be_asked(tmp_path, index, monkeypatch) -> None:
    index.server.shutdown()
    index.server.server_close()
    audit = load_audit()
    monkeypatch.setattr(audit.time, "sleep", lambda seconds: None)
    (tmp_path / "uv.lock").write_text(LOCK)
    code = audit.main(["--lock", str(tmp_path / "uv.lock"), "--index", index.url])
    assert code == 2
