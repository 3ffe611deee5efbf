"""The HTTP protocol the service runs under uvicorn (``service.http_protocol``): each response leaves in one write.

A real uvicorn server (uvloop, httptools) on a loopback port, driven through raw sockets, so what arrives is
what the server wrote: the head and the body of a response in the first ``recv``; streamed, HEAD, large and
``Connection: close`` responses whole and in order; and the service's own servers use the protocol.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from service.http_protocol import CoalescingHttpToolsProtocol
from tests.support.api import server_process

BIG = 5 * 2**20  # more than the transport's write buffer limits: flow control pauses the writer


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(5):
            await send({"type": "http.response.body", "body": f"part {i};".encode(), "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"end", "more_body": False})
        return
    body = b"x" * BIG if path == "/big" else f"hello {path}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    if path == "/close":
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


@contextmanager
def running(http: object = CoalescingHttpToolsProtocol) -> Iterator[int]:
    """A uvicorn server with ``app`` on a free loopback port, in a thread; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=http, loop="uvloop", log_level="warning", lifespan="off")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Reader:
    """Responses from a connection, in order (bytes read past one response are kept for the next)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer = conn, b""
        self.first_reads: list[bytes] = []  # what each response's first ``recv`` returned (when it needed one)

    def _more(self, what: str) -> None:
        data = self.conn.recv(1 << 20)
        assert data, f"the connection closed mid-{what}"
        self.buffer += data

    def response(self) -> tuple[bytes, bytes]:
        """The next response with a Content-Length, as (head, body)."""
        if not self.buffer:
            self._more("head")
            self.first_reads.append(self.buffer)
        while b"\r\n\r\n" not in self.buffer:
            self._more("head")
        head, rest = self.buffer.split(b"\r\n\r\n", 1)
        length = next(int(ln.split(b":")[1]) for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length"))
        self.buffer = rest
        while len(self.buffer) < length:
            self._more("body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return head, body


def dechunk(data: bytes) -> bytes:
    """A chunked body's bytes (chunk sizes in hex, each line ended by CRLF)."""
    out, at = b"", 0
    while True:
        end = data.index(b"\r\n", at)
        size = int(data[at:end], 16)
        if size == 0:
            return out
        out += data[end + 2 : end + 2 + size]
        at = end + 2 + size + 2


def test_each_response_arrives_whole_in_the_first_read():
    with running() as port, socket.create_connection(("127.0.0.1", port)) as conn:
        reader = Reader(conn)
        for i in range(200):  # keep-alive: one connection, many requests
            conn.sendall(f"GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head, body = reader.response()
            assert head.startswith(b"HTTP/1.1 200 OK") and body == f"hello /r{i}".encode()
            assert reader.first_reads[-1].endswith(body), f"request {i}: the first read held {reader.first_reads[-1]!r}"


def test_pipelined_requests_are_answered_in_order():
    with running() as port, socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"".join(f"GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(20)))
        reader = Reader(conn)
        assert [reader.response()[1] for _ in range(20)] == [f"hello /p{i}".encode() for i in range(20)]


def test_head_streamed_large_and_closing_responses_arrive_whole():
    with running() as port:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
            data = conn.recv(1 << 16)
            assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"\r\n\r\n")  # a head, nothing after
            conn.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")  # the same connection goes on
            assert Reader(conn).response()[1] == b"x" * BIG
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(b"0\r\n\r\n"):  # chunked: the last chunk ends the response
                more = conn.recv(1 << 16)
                assert more
                data += more
            assert dechunk(data.split(b"\r\n\r\n", 1)[1]) == b"part 0;part 1;part 2;part 3;part 4;end"
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = Reader(conn).response()
            assert body == b"hello /close" and b"connection: close" in head.lower()
            assert conn.recv(1 << 16) == b""  # then the server closed the connection


@pytest.mark.parametrize("workers", [1, 2])
def test_the_service_servers_answer_in_one_write(tmp_path, workers):
    with server_process(tmp_path, workers=workers) as base:
        host, port = base.removeprefix("http://").split(":")
        for _ in range(20):
            with socket.create_connection((host, int(port))) as conn:
                conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                reader = Reader(conn)
                head, body = reader.response()
                assert head.startswith(b"HTTP/1.1 200") and body and reader.first_reads == [head + b"\r\n\r\n" + body]
