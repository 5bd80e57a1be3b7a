"""Every third-party package Tocsin imports at run time is declared in pyproject.toml's
dependencies: an install from the wheel (not from the locked development environment,
which also holds the test tools and whatever they pull in) must have it.

Imports under ``if TYPE_CHECKING:`` are for mypy only (the dev group's django-stubs).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
# Imported directly but not declared: each comes with the declared package named here,
# which requires it (checked below), so every install has it. Better declared in
# pyproject.toml, which says plainly that Tocsin uses it (asgiref now is).
VIA: dict[str, str] = {}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]
    return {canonical(re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0]) for d in project["dependencies"]}


class Imports(ast.NodeVisitor):
    """The top-level modules a file imports at run time, at any depth of the file."""

    def __init__(self) -> None:
        self.modules: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.modules.update(alias.name.partition(".")[0] for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.modules.add(node.module.partition(".")[0])


def imported_modules() -> dict[str, set[str]]:
    """Return each top-level module imported anywhere in tocsin/ (function-level imports
    included), with the files that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted((BASE_DIR / "tocsin").rglob("*.py")):
        visitor = Imports()
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        for module in visitor.modules:
            found.setdefault(module, set()).add(str(path.relative_to(BASE_DIR)))
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    distributions = packages_distributions()
    missing = []
    for module, files in sorted(imported_modules().items()):
        if module == "tocsin" or module in sys.stdlib_module_names:
            continue
        owners = {canonical(d) for d in distributions.get(module, [])}
        assert owners, f"{module} (imported by {sorted(files)}) is not installed"
        if module in VIA:
            assert canonical(VIA[module]) in declared()
            required = {
                canonical(re.split(r"[\s\[<>=!~;(]", r, maxsplit=1)[0])
                for r in requires(VIA[module]) or []
            }
            assert owners & required, f"{VIA[module]} no longer requires {module}: declare it"
            continue
        if not owners & declared():
            missing.append(f"{module} from {sorted(owners)}, imported by {sorted(files)}")
    assert missing == [], "undeclared direct dependencies:\n" + "\n".join(missing)


def test_it_sees_the_imports_it_checks() -> None:
    modules = imported_modules()
    # A direct import, a function-level one, and a module from a package of another name.
    assert "requests" in modules and "uvicorn" in modules and "nacl" in modules
    assert canonical(packages_distributions()["nacl"][0]) in declared()
    # What only mypy reads is not a run-time import.
    assert "django_stubs_ext" not in modules


def test_python_version_names_a_release_series_not_one_patch_release() -> None:
    # uv reads .python-version to pick an interpreter: "3.12.1" would send a newcomer who
    # has another 3.12 release to download one; "3.12" takes any 3.12 they have.
    pinned = (BASE_DIR / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", pinned), pinned
    requires_python = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"][
        "requires-python"
    ]
    assert f">={pinned}" in requires_python, requires_python
