"""The kept-alive HTTP/1.1 client's answer parser (tocsin.lib.keepalive), fuzzed.

A push service's answer is read by hand: status line, headers, then the body by
Content-Length, by chunks, or to the end of the connection. Whatever bytes come back,
the client returns a Response or raises keepalive.HTTPError, and a well-framed answer is
read exactly, leaving the connection in step for the next. Each example writes its
bytes into one end of a socket pair and closes it; the client reads the other end, so
a parser that waited for bytes that never come would see the end of the stream, and one
that looped without reading would hang the test.
"""

from __future__ import annotations

import socket
import threading

from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tocsin.lib import keepalive

HEAD = b"POST /push/1 HTTP/1.1\r\nHost: push.example\r\nTTL: 60\r\n"


def exchange(answer: bytes, requests: int = 1) -> list[keepalive.Response | keepalive.HTTPError]:
    """Send ``requests`` requests on one connection whose server wrote ``answer`` and
    closed; return what each got (a Response, or the HTTPError it raised). Anything
    else the client raises fails the test."""
    ours, theirs = socket.socketpair()
    writer = threading.Thread(target=_write, args=(theirs, answer))
    writer.start()
    connection = keepalive.Connection(ours)
    got: list[keepalive.Response | keepalive.HTTPError] = []
    try:
        for _ in range(requests):
            try:
                got.append(connection.request(HEAD, b"payload"))
            except keepalive.HTTPError as e:
                got.append(e)
                break
            if not connection.open:
                break
    finally:
        connection.close()
        writer.join()
        theirs.close()
    return got


def _write(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        # Drain what the client sends, so it never blocks on a full buffer.
        while sock.recv(65536):
            pass
    except OSError:
        pass


# --- anything at all ---


@hsettings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
@example(b"")
@example(b"HTTP/1.1 200 OK\r\n\r\n")
@example(b"\r\n\r\n")
@example(b"HTTP/1.1 100 Continue\r\n\r\n")
@example(b"HTTP/1.1 " + b"2" * 5000 + b" OK\r\n\r\n")
def test_any_bytes_are_an_answer_or_an_error(data: bytes) -> None:
    [got] = exchange(data)
    assert isinstance(got, keepalive.Response | keepalive.HTTPError)


HEADER_LINE = st.one_of(
    st.binary(max_size=60).filter(lambda b: b"\r\n" not in b),
    st.sampled_from(
        [
            b"Content-Length: 0",
            b"Content-Length: 5",
            b"Content-Length: -1",
            b"Content-Length: 99999999999999999999",
            b"Transfer-Encoding: chunked",
            b"Transfer-Encoding: gzip, chunked",
            b"Connection: close",
            b"Retry-After: 30",
            b": no name",
            b"no colon",
        ]
    ),
)


@hsettings(max_examples=400, deadline=None)
@given(
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.x", b"HTTP/2", b"http/1.1"]),
    st.binary(min_size=1, max_size=6),
    st.lists(HEADER_LINE, max_size=6),
    st.binary(max_size=300),
)
def test_any_head_and_body_are_an_answer_or_an_error(
    version: bytes, status: bytes, headers: list[bytes], rest: bytes
) -> None:
    data = version + b" " + status + b" Reason\r\n" + b"".join(h + b"\r\n" for h in headers)
    got = exchange(data + b"\r\n" + rest, requests=2)
    assert all(isinstance(g, keepalive.Response | keepalive.HTTPError) for g in got)


# --- well-framed answers are read exactly and keep the connection in step ---

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
    lambda t: t not in ("content-length", "transfer-encoding", "connection")
)
VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


@st.composite
def framed(draw: st.DrawFn) -> tuple[bytes, int, bytes, dict[str, str]]:
    """Return an answer's bytes, its status, its body and its extra headers."""
    status = draw(st.sampled_from([200, 201, 202, 400, 403, 404, 410, 413, 429, 500, 503]))
    body = draw(st.binary(max_size=600))
    extra = draw(st.dictionaries(TOKEN, VALUE.map(str.strip), max_size=4))
    head = b"HTTP/1.1 %d Whatever\r\n" % status
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in extra.items())
    interim = draw(st.integers(0, 2)) * b"HTTP/1.1 100 Continue\r\n\r\n"
    if draw(st.booleans()):
        return (
            interim + head + b"Content-Length: %d\r\n\r\n" % len(body) + body,
            status,
            body,
            extra,
        )
    # Chunked: the body cut anywhere, sizes in either case, extensions, trailers.
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=5)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    upper = draw(st.booleans())
    chunks = b""
    for piece in pieces:
        if piece:
            size = (b"%X" if upper else b"%x") % len(piece)
            ext = draw(st.sampled_from([b"", b";a=b", b"; name"]))
            chunks += size + ext + b"\r\n" + piece + b"\r\n"
    trailers = draw(st.sampled_from([b"", b"X-Trailer: 1\r\n"]))
    chunked = head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n" + trailers + b"\r\n"
    return interim + chunked, status, body, extra


@hsettings(max_examples=300, deadline=None)
@given(framed(), framed())
def test_a_well_framed_answer_is_read_exactly_and_the_next_one_too(
    first: tuple[bytes, int, bytes, dict[str, str]],
    second: tuple[bytes, int, bytes, dict[str, str]],
) -> None:
    got = exchange(first[0] + second[0], requests=2)
    for (_raw, status, body, extra), answer in zip((first, second), got, strict=True):
        assert isinstance(answer, keepalive.Response), answer
        assert (answer.status, answer.body) == (status, body)
        for name, value in extra.items():
            assert answer.headers[name] == value


@hsettings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_a_body_to_the_end_of_the_connection_is_read_whole(body: bytes) -> None:
    [answer] = exchange(b"HTTP/1.1 201 Created\r\n\r\n" + body)
    assert isinstance(answer, keepalive.Response)
    assert answer.body == body


# --- lengths and sizes in any other form are errors, not guesses ---

NOT_A_LENGTH = st.one_of(
    st.sampled_from(["-1", "+5", "5_0", "0x10", "1e3", "\xb2", "5 5", "5,5", "", " "]),
    st.text(alphabet="0123456789+-_xX ,.e", min_size=1, max_size=8).filter(
        lambda t: not t.strip().isdigit() or not t.strip().isascii()
    ),
)
NOT_A_CHUNK_SIZE = st.one_of(
    st.sampled_from(["-1", "+5", "0x5", "5_0", "", " ", "g", "-0"]),
    st.text(alphabet="0123456789abcdefABCDEF+-_xX ", min_size=1, max_size=8).filter(
        lambda t: not all(c in "0123456789abcdefABCDEF" for c in t.strip()) or not t.strip()
    ),
)


@hsettings(max_examples=100, deadline=None)
@given(NOT_A_LENGTH)
@example("+5")
@example("5_0")
def test_a_content_length_that_is_not_digits_is_an_error(length: str) -> None:
    answer = b"HTTP/1.1 201 Created\r\nContent-Length: " + length.encode("latin-1") + b"\r\n\r\n"
    [got] = exchange(answer + b"hello" * 4)
    assert isinstance(got, keepalive.HTTPError)


@hsettings(max_examples=100, deadline=None)
@given(NOT_A_CHUNK_SIZE)
@example("-1")
@example("0x5")
def test_a_chunk_size_that_is_not_hex_digits_is_an_error(size: str) -> None:
    answer = b"HTTP/1.1 410 Gone\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = size.encode() + b"\r\nhello\r\n0\r\n\r\n"
    [got] = exchange(answer + chunks)
    assert isinstance(got, keepalive.HTTPError)


def test_a_server_that_keeps_sending_interim_answers_is_an_error() -> None:
    # One that says "100 Continue" for ever would hold a sending thread for ever: the
    # client stops after a few, even when an answer would follow.
    final = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    [got] = exchange(b"HTTP/1.1 100 Continue\r\n\r\n" * 5000 + final)
    assert isinstance(got, keepalive.HTTPError)


def test_trailers_longer_than_a_head_are_an_error() -> None:
    answer = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    [got] = exchange(answer + b"X-Trailer: 1\r\n" * 20000 + b"\r\n")
    assert isinstance(got, keepalive.HTTPError)
