"""Request bodies are refused over 64 kB on every route but the two that take photos
(the report form and a verifier's answer), before the server reads them: through the
real ASGI application, with a declared length, a streamed body and a lying one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import translation

from tests.asgi_support import post_scope
from tocsin.lib.bodylimit import BodyLimit, too_large

KB = 1024
LIMIT = 64 * KB
CHUNK = 4 * KB


class Peer:
    """An HTTP client as the ASGI server presents it: the body in chunks, counted as
    the application pulls them."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.pulled = 0
        self.bytes_read = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if not self.chunks:
            # The whole body is sent; the client waits for the answer (Django listens
            # for a disconnect meanwhile, and stops listening once it has answered).
            await asyncio.Event().wait()
        self.pulled += 1
        chunk = self.chunks.pop(0)
        self.bytes_read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def post(
    path: str,
    chunks: list[bytes],
    *,
    content_length: int | None = None,
    content_type: bytes = b"application/json",
    language: bytes = b"",
) -> Peer:
    """POST ``chunks`` to ``path`` through tocsin.asgi.application."""
    from tocsin.asgi import application

    headers = [(b"host", b"testserver"), (b"content-type", content_type)]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    if language:
        headers.append((b"accept-language", language))
    scope = post_scope(path, headers)
    peer = Peer(chunks)
    async_to_sync(application)(scope, peer.receive, peer.send)
    return peer


ROUTES = [
    "/hooks/sms/gateway/inbound/",
    "/hooks/sms/inbound/",
    "/hooks/telegram/update/",
    "/login/",
    "/me/push/",
    "/report/ABCD1234/",
    "/desk/hotline/",
    "/no/such/route/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ROUTES)
def test_a_declared_body_over_64kb_is_refused_unread(path: str) -> None:
    peer = post(path, [b"x" * CHUNK] * 20, content_length=LIMIT + 1)
    assert peer.status == 413
    assert peer.pulled == 0
    assert peer.body.decode() == too_large()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ROUTES)
def test_a_streamed_body_is_cut_off_at_64kb(path: str) -> None:
    peer = post(path, [b"x" * CHUNK] * 40)  # no Content-Length: chunked
    assert peer.status == 413
    # Nothing past the chunk that crossed the limit was read.
    assert peer.bytes_read <= LIMIT + CHUNK
    assert peer.pulled == LIMIT // CHUNK + 1


@pytest.mark.django_db
def test_a_body_longer_than_its_declared_length_is_cut_off_too() -> None:
    peer = post("/hooks/sms/gateway/inbound/", [b"x" * CHUNK] * 40, content_length=100)
    assert peer.status == 413
    assert peer.bytes_read <= LIMIT + CHUNK


@pytest.mark.django_db
def test_a_body_of_64kb_reaches_the_view(settings: Any) -> None:
    settings.SMS_GATEWAY_TOKEN = ""
    peer = post("/hooks/sms/gateway/inbound/", [b"x" * CHUNK] * 16, content_length=LIMIT)
    assert peer.status == 403  # the view's own answer: no gateway configured
    assert peer.bytes_read == LIMIT


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/report/", "/v/not-a-token/"])
def test_the_routes_that_take_photos_keep_the_upload_limit(path: str) -> None:
    big = [b"x" * CHUNK] * 40
    peer = post(path, big, content_type=b"multipart/form-data; boundary=x")
    assert peer.status != 413
    assert peer.bytes_read == 40 * CHUNK
    over = settings.FILE_UPLOAD_MAX_MEMORY_SIZE + 1
    peer = post(path, [b"x"], content_length=over, content_type=b"multipart/form-data; boundary=x")
    assert peer.status == 413
    assert peer.pulled == 0
    assert b"photos are too large" in peer.body


@pytest.mark.django_db
def test_the_refusal_speaks_the_senders_language() -> None:
    peer = post("/login/", [b"x"], content_length=LIMIT + 1, language=b"es")
    with translation.override("es"):
        assert peer.body.decode() == too_large()
    assert peer.body.decode() != too_large()


def test_the_server_application_is_wrapped_with_both_limits() -> None:
    from tocsin.asgi import application

    assert isinstance(application, BodyLimit)
    assert application.limit == settings.REQUEST_MAX_BYTES == LIMIT
    assert application.upload_limit == settings.FILE_UPLOAD_MAX_MEMORY_SIZE


def test_django_itself_refuses_form_and_json_data_over_64kb() -> None:
    # Behind a WSGI server, or a test client, the same limit holds (as a 400).
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == LIMIT


# Through the real server: uvicorn, the wrapper, Django.


@pytest.fixture
def server(transactional_db: None) -> Any:
    from tests.browser_support import LiveServer

    live = LiveServer().start()
    yield live
    live.stop()


def test_the_real_server_refuses_a_chunked_body_over_64kb(server: Any) -> None:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/hooks/telegram/update/")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    chunk = b"x" * CHUNK
    try:
        for _ in range(LIMIT // CHUNK + 1):
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        pass  # the server may close the connection as soon as it refused
    response = connection.getresponse()
    assert response.status == 413
    assert response.read().decode() == too_large()
    connection.close()
