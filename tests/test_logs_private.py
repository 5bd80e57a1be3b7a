"""The log holds no IP address, user agent or email address, and no request body.

Requests go through the real ASGI app under uvicorn, configured as ``tocsin serve`` runs
it, from a client address of our choosing (127.45.67.89, a loopback address that is not
the server's own), with forwarding headers, a user agent and an email address in the query
string, the path and the body, and one request fails with an error whose message quotes a
value from the body. Every log line of the run is captured at DEBUG, uvicorn's included.
"""

from __future__ import annotations

import http.client
import json
import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import uvicorn
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

import tocsin.asgi  # noqa: F401 - see Server
from tests.privacy_support import FORWARDED_IPS, LogCapture, context, ip_addresses
from tocsin.lib.logging import JsonFormatter, scrub
from tocsin.members.models import Member
from tocsin.urls import urlpatterns as app_urlpatterns

TAG = secrets.token_hex(4)
EMAIL = f"logged-{TAG}@canary-{TAG}.example"
USER_AGENT = f"LogCanary/{TAG} (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148"
BODY_CANARY = f"body-canary-{TAG}"
# A loopback address that is not the one the server listens on, so it can be told apart
# from the server's own address in what uvicorn logs about itself.
CLIENT_IP = "127.45.67.89"
SERVER_IP = "127.0.0.1"


@csrf_exempt
def fail_on_body(request: HttpRequest) -> HttpResponse:
    """A view with a bug: it passes a form value to an integer lookup. Django's ValueError
    then quotes the value, as such errors do ("Field 'id' expected a number but got ...")."""
    Member.objects.get(pk=request.POST.get("member"))
    return HttpResponse("unreachable")


urlpatterns = [*app_urlpatterns, path("test-failure/", fail_on_body)]


class Server:
    """uvicorn serving tocsin.asgi in a thread, configured as ``tocsin serve`` does.

    tocsin.asgi is imported with this module: importing it runs django.setup(), which
    applies settings.LOGGING afresh and would drop the capture's handlers mid-test.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((SERVER_IP, 0))
        self.port: int = self.sock.getsockname()[1]
        # As tocsin.cli._serve: no access log, Django's logging config, no lifespan.
        config = uvicorn.Config(
            app="tocsin.asgi:application",
            host=SERVER_IP,
            port=self.port,
            access_log=False,
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def request(
    port: int,
    method: str,
    target: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """Send one request from CLIENT_IP with every header that says who and where we are."""
    conn = http.client.HTTPConnection(SERVER_IP, port, timeout=20, source_address=(CLIENT_IP, 0))
    try:
        conn.request(
            method,
            target,
            body=body,
            headers={
                "Host": "127.0.0.1",
                "User-Agent": USER_AGENT,
                "X-Forwarded-For": f"{FORWARDED_IPS[0]}, {FORWARDED_IPS[1]}",
                "X-Real-IP": FORWARDED_IPS[2],
                "Forwarded": f'for={FORWARDED_IPS[0]};proto=https, for="[{FORWARDED_IPS[1]}]"',
                "CF-Connecting-IP": FORWARDED_IPS[0],
                "True-Client-IP": FORWARDED_IPS[2],
                **(headers or {}),
            },
        )
        response = conn.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()


@pytest.fixture
def urls(transactional_db: None, settings: Any) -> None:
    """Serve the app's pages plus the failing view (the server thread reads the test
    database, so rows must be committed: transactional_db)."""
    settings.ROOT_URLCONF = __name__


def secrets_in(text: str) -> list[str]:
    needles = {
        "the client address": CLIENT_IP,
        "the user agent": USER_AGENT,
        "the user agent's product": f"LogCanary/{TAG}",
        "the email": EMAIL,
        "the email, percent-encoded": quote(EMAIL, safe=""),
        "the request body": BODY_CANARY,
        **{f"forwarded address {ip}": ip for ip in FORWARDED_IPS},
    }
    hits = [
        f"{label}: {context(text, needle)}"
        for label, needle in needles.items()
        if needle.lower() in text.lower()
    ]
    # The server's own listening address is not a person's; any other address is.
    hits += [
        f"IP address {ip}: {context(text, ip)}" for ip in ip_addresses(text, allow=[SERVER_IP])
    ]
    return hits


@pytest.mark.usefixtures("urls")
@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_the_log_holds_no_address_user_agent_email_or_body(log_format: str) -> None:
    query = "?" + urlencode({"email": EMAIL, "ref": "share"})
    form = urlencode({"member": EMAIL, "note": BODY_CANARY, "email": EMAIL}).encode()
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}

    formatter = JsonFormatter() if log_format == "json" else None
    with LogCapture(formatter) as logs, Server() as server:
        # Pages, found and not found, with the email in the query string and the path.
        assert request(server.port, "GET", "/" + query).status == 200
        assert request(server.port, "GET", "/report/" + query).status == 200
        assert request(server.port, "GET", f"/report/{quote(EMAIL)}/" + query).status == 404
        # Refused by the CSRF check, which logs a warning with the path.
        answer = request(
            server.port, "POST", f"/report/{quote(EMAIL)}/", body=form, headers=form_type
        )
        assert answer.status == 403
        answer = request(server.port, "POST", "/login/" + query, body=form, headers=form_type)
        assert answer.status == 403
        # A server error whose exception quotes the email from the body.
        answer = request(
            server.port, "POST", "/test-failure/" + query, body=form, headers=form_type
        )
        assert answer.status == 500
        # Nor did the person see the exception.
        assert EMAIL.encode() not in answer.body and BODY_CANARY.encode() not in answer.body
        # A malformed request, which uvicorn itself answers (and logs).
        with socket.create_connection(
            (SERVER_IP, server.port), source_address=(CLIENT_IP, 0)
        ) as raw:
            raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            raw.recv(1024)
        text = logs.text

    # The error was logged, with its traceback, without the body or its email.
    assert "Internal Server Error: /test-failure/" in text, text
    assert "Traceback (most recent call last)" in text, text
    assert "ValueError: Field 'id' expected a number but got '[email]'" in text, text
    assert "Forbidden (CSRF" in text, text
    assert secrets_in(text) == [], "\n".join(secrets_in(text))
    if log_format == "json":
        # One event per line, each a JSON object, the traceback inside its event.
        events = [json.loads(line) for line in logs.lines]
        assert all("\n" not in line for line in logs.lines)
        assert any("Traceback" in e.get("exception", "") for e in events)
        assert all(e["time"].endswith("+00:00") for e in events)


@pytest.mark.usefixtures("urls")
def test_uvicorn_logs_no_access_lines() -> None:
    """uvicorn's access log (client address, path and query) stays off, as in production."""
    with LogCapture() as logs, Server() as server:
        target = "/offline/?" + urlencode({"email": EMAIL})
        assert request(server.port, "GET", target).status == 200
        assert not logging.getLogger("uvicorn.access").hasHandlers()
        text = logs.text
    assert "/offline/" not in text
    assert secrets_in(text) == []


# The scrubber is the last line of defence for text the app logs from elsewhere.


@pytest.mark.parametrize(
    "text",
    [
        "from 203.0.113.77",
        "from 2001:db8:5e1:2ed::77",
        "from [2001:db8::1]:443",
        "from fe80::1ff:fe23:4567:890a",
        "from ::ffff:198.51.100.23",
        "for 2001:0db8:0000:0000:0000:ff00:0042:8329",
        f"to {EMAIL}",
        f"to {quote(EMAIL, safe='')}",
        "to +14155550123",
    ],
)
def test_scrub_removes_addresses(text: str) -> None:
    scrubbed = scrub(text)
    assert scrubbed != text
    assert ip_addresses(scrubbed) == []
    assert "@" not in scrubbed and "%40" not in scrubbed.lower()
    assert "4155550123" not in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "sent at 12:30:45",
        "delivery 42 failed: SMTP 550",
        "listening on 127.0.0.1:8000",
        "incident 7 near 34.0339, -118.2107",
    ],
)
def test_scrub_keeps_what_is_not_personal(text: str) -> None:
    assert scrub(text) == text
