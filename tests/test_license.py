"""AGPL-3.0-or-later: the license text ships, and every page offers the running version's
source (section 13), from Tocsin itself or from the operator's URL."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tocsin.lib import source

BASE = Path(settings.BASE_DIR)


@pytest.fixture(autouse=True)
def _fresh_archive() -> None:
    source.forget()


def _names(response) -> list[str]:  # type: ignore[no-untyped-def]
    body = response.content
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return tar.getnames()


def test_the_license_file_is_the_agpl_version_3() -> None:
    text = (BASE / "LICENSE").read_text()
    assert text.startswith("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007")
    # The whole text, through its last section and the how-to-apply appendix.
    assert "13. Remote Network Interaction; Use with the GNU General Public License." in text
    assert "17. Interpretation of Sections 15 and 16." in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert 'license = "AGPL-3.0-or-later"' in (BASE / "pyproject.toml").read_text()


@pytest.mark.django_db
@pytest.mark.parametrize("route", ["home", "report", "rights", "login"])
def test_every_page_footer_offers_the_source(client: Client, route: str) -> None:
    html = client.get(reverse(route)).content.decode()
    footer = html[html.index("<footer") :]
    assert f'href="{reverse("source")}"' in footer


@pytest.mark.django_db
def test_the_footer_offers_the_source_in_spanish(client: Client) -> None:
    html = client.get(reverse("home"), headers={"accept-language": "es"}).content.decode()
    assert "Código fuente" in html[html.index("<footer") :]


@pytest.mark.django_db
def test_it_serves_an_archive_of_its_own_source(client: Client) -> None:
    response = client.get(reverse("source"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="tocsin-{source.version()}.tar.gz"'
    )
    names = _names(response)
    prefix = f"tocsin-{source.version()}"
    for expected in ("LICENSE", "pyproject.toml", "uv.lock", "tocsin/lib/source.py"):
        assert f"{prefix}/{expected}" in names
    assert f"{prefix}/templates/base.html" in names


@pytest.mark.django_db
def test_the_archive_holds_no_data_secrets_or_environment(client: Client, tmp_path: Path) -> None:
    # A project folder with an operator's things beside the code.
    for name in ("tocsin/__init__.py", "LICENSE", "tocsin/x.pyc"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    for name in (
        ".env",
        "data/tocsin.sqlite3",
        "data/secret_key",
        ".venv/lib/site.py",
        "tocsin/__pycache__/a.cpython-312.pyc",
        "deploy/.env",
        "deploy/vault.key",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("secret")
    # A data folder inside a source folder, and a link out of the tree, are both left out.
    (tmp_path / "tocsin" / "data").mkdir()
    (tmp_path / "tocsin" / "data" / "tocsin.db").write_text("secret")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "outside").symlink_to(tmp_path / "data")
    names = sorted(
        p.as_posix() for p in source.files(tmp_path, exclude=tmp_path / "tocsin" / "data")
    )
    assert names == ["LICENSE", "tocsin/__init__.py"]


def test_the_archive_is_the_same_bytes_for_the_same_files(tmp_path: Path) -> None:
    (tmp_path / "LICENSE").write_text("license")
    first = source.archive(tmp_path, prefix="tocsin-1")
    (tmp_path / "LICENSE").touch()
    assert source.archive(tmp_path, prefix="tocsin-1") == first


@pytest.mark.django_db
def test_it_builds_the_archive_once_and_writes_nothing_to_the_data_folder(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = client.get(reverse("source")).content
    monkeypatch.setattr(source, "archive", lambda *a, **k: pytest.fail("built twice"))
    assert client.get(reverse("source")).content == first
    assert not (settings.DATA_DIR / "source").exists()
    assert not list(settings.DATA_DIR.glob("*.tar.gz"))


@pytest.mark.django_db
def test_it_sends_people_to_the_operators_source_url(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SOURCE_URL = "https://code.example.org/tocsin/archive/v0.1.0.tar.gz"
    response = client.get(reverse("source"))
    assert response.status_code == 302
    assert response["Location"] == settings.SOURCE_URL
