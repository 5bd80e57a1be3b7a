"""The deployment files (deploy/) checked without a container daemon or systemd: they
parse, name only settings Tocsin has, run only the commands the README gives, and the
proxy caps bodies as Tocsin does, logs no client address and keeps /metrics private."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.conftest import need

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").iterdir())
NAME = re.compile(r"\bTOCSIN_[A-Z0-9_]+")


def setting_names() -> set[str]:
    """Every TOCSIN_* variable tocsin/settings.py reads, and NAME_FILE for its secrets."""
    source = (ROOT / "tocsin" / "settings.py").read_text()
    names = {n for n in re.findall(r'"(TOCSIN_[A-Z0-9_]+)"', source)}
    names |= {f"{n}_FILE" for n in re.findall(r'envsecret\("(TOCSIN_[A-Z0-9_]+)"\)', source)}
    return names


def readme_commands() -> set[str]:
    """The commands the README shows, each as one line with single spaces and no comment."""
    commands = set()
    for line in (ROOT / "README.md").read_text().splitlines():
        line = line.split("  #")[0].strip().strip("`")
        if line:
            commands.add(" ".join(line.split()))
    return commands


def in_readme(command: str) -> bool:
    command = " ".join(command.split())
    return command in readme_commands() or f"uv run {command}" in readme_commands()


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_setting_names_are_found() -> None:
    # The checks below would pass on an empty set: make sure the reader finds the settings.
    names = setting_names()
    assert {
        "TOCSIN_DATABASE_URL",
        "TOCSIN_VAULT_PASSPHRASE_FILE",
        "TOCSIN_SECRET_KEY_FILE",
    } <= names
    assert "TOCSIN_DATABASE_URL_FILE" not in names


@pytest.mark.parametrize(
    "path",
    [DEPLOY / "compose.yaml", DEPLOY / "Dockerfile", DEPLOY / "Caddyfile", *UNITS],
    ids=lambda p: p.name,
)
def test_deploy_files_name_only_settings_tocsin_has(path: Path) -> None:
    unknown = set(NAME.findall(path.read_text())) - setting_names()
    assert not unknown, f"{path.name} names settings tocsin/settings.py does not read: {unknown}"


def test_compose_runs_a_metro_of_two_apps_and_two_workers_behind_caddy() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "app1", "app2", "worker1", "worker2", "caddy", "tor"} <= set(
        services
    )
    commands = {
        name: " ".join(["tocsin", *s["command"]])
        for name, s in services.items()
        if name.startswith(("app", "worker"))
    }
    assert commands == {
        "app1": "tocsin serve --migrate",
        "app2": "tocsin serve",
        "worker1": "tocsin worker",
        "worker2": "tocsin worker",
    }
    for name, command in commands.items():
        assert in_readme(command) or in_readme(f"{command} --migrate"), (name, command)
        service = services[name]
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        env = service["environment"]
        assert env["TOCSIN_REDIS_URL"].startswith("redis://")
        assert env["TOCSIN_VAULT_PASSPHRASE_FILE"].startswith("/run/secrets/")
    # The Tor service is optional, and reaches only Caddy's onion site.
    assert services["tor"]["profiles"] == ["onion"]
    assert services["tor"]["network_mode"] == "service:caddy"
    # Nothing but Caddy is published on the host.
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"caddy"}


def test_systemd_units_are_hardened_and_run_readme_commands() -> None:
    services = [p for p in UNITS if p.suffix == ".service"]
    timers = [p for p in UNITS if p.suffix == ".timer"]
    assert {p.name for p in services} == {
        "tocsin-app@.service",
        "tocsin-worker@.service",
        "tocsin-purge.service",
        "tocsin-backup.service",
    }
    for path in services:
        s = unit(path)["Service"]
        assert s["User"] == "tocsin", path.name
        for option, value in {
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "PrivateTmp": "yes",
            "ProtectHome": "yes",
            "CapabilityBoundingSet": "",
            "UMask": "0077",
            "ReadWritePaths": "/var/lib/tocsin",
        }.items():
            assert s[option] == value, (path.name, option)
        program, *args = shlex.split(s["ExecStart"])
        assert program == "/opt/tocsin/.venv/bin/tocsin"
        assert in_readme(" ".join(["tocsin", *args])), (path.name, args)
    for path in timers:
        assert unit(path)["Timer"]["OnCalendar"]
        assert (DEPLOY / "systemd" / path.with_suffix(".service").name).exists()


def test_dockerfile_runs_the_readme_commands_as_a_user_not_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = [
        line.split(None, 1) for line in text.splitlines() if line and not line.startswith("#")
    ]
    runs = [args for op, args in instructions if op == "RUN"]
    ours = [
        " ".join(c.split())
        for args in runs
        for c in args.split("&&")
        if c.split()[0] in ("uv", "npm", "tocsin")
    ]
    assert ours, "no uv, npm or tocsin command found"
    for command in ours:
        assert in_readme(command), f"the Dockerfile runs {command!r}, which the README never gives"
    final = text.rsplit("\nFROM ", 1)[1]
    entry = re.search(r"^ENTRYPOINT (.+)$", final, re.M)
    cmd = re.search(r"^CMD (.+)$", final, re.M)
    assert entry and cmd
    assert in_readme(" ".join(yaml.safe_load(entry[1]) + yaml.safe_load(cmd[1])))
    users = re.findall(r"^USER (\S+)$", final, re.M)
    assert users and not users[-1].startswith(("root", "0"))


def caddy_size(text: str) -> int:
    number, unit_ = re.fullmatch(r"(\d+)(KiB|MiB)", text).groups()  # type: ignore[union-attr]
    return int(number) * {"KiB": 1024, "MiB": 1024 * 1024}[unit_]


def test_caddy_caps_bodies_as_tocsin_does() -> None:
    text = (DEPLOY / "Caddyfile").read_text()
    small = re.findall(r"request_body @small \{\s*max_size (\S+)\s*\}", text)
    large = re.findall(
        r"request_body @uploads \{\s*max_size \{\$UPLOAD_BODY_MAX:(\S+)\}\s*\}", text
    )
    assert len(small) == len(large) == 2  # the public site and the onion site
    assert {caddy_size(s) for s in small} == {settings.REQUEST_MAX_BYTES}
    for size in {caddy_size(s) for s in large}:
        # Room for what Tocsin itself takes on these routes, and not much more.
        assert (
            settings.FILE_UPLOAD_MAX_MEMORY_SIZE
            <= size
            < settings.FILE_UPLOAD_MAX_MEMORY_SIZE + 2**20
        )
    # The large limit applies only to the routes that take photos.
    from django.urls import resolve

    for path in ("/report/", "/v/some-token/"):
        assert getattr(resolve(path).func, "takes_uploads", False), path
    assert re.findall(r"@uploads path (.+)", text) == ["/report/ /v/*"] * 2


def test_caddy_logs_no_client_address_and_keeps_metrics_private() -> None:
    text = (DEPLOY / "Caddyfile").read_text()
    # One `log` block, the global one, which deletes the request's address: no site has
    # an access log.
    assert len(re.findall(r"^\s*log\b", text, re.M)) == 1
    for field in ("remote_ip", "client_ip", "remote_port", "headers"):
        assert f"request>{field} delete" in text
    assert text.count("@internal path /metrics /metrics/*") == 2
    assert text.count("respond @internal 404") == 2


def test_caddyfile_is_valid_for_caddy() -> None:
    caddy = shutil.which("caddy")
    need(caddy is not None, "Caddy is not installed (apt-get install caddy)")
    result = subprocess.run(  # noqa: S603
        [caddy, "validate", "--adapter", "caddyfile", "--config", str(DEPLOY / "Caddyfile")],  # type: ignore[list-item]
        env={
            **os.environ,
            "PUBLIC_DOMAIN": "alerts.example.org",
            "APP_UPSTREAMS": "127.0.0.1:8001 127.0.0.1:8002",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
