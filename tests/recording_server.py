"""A real HTTP(S) server on 127.0.0.1 in a thread that answers what a test set and records every request."""
from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.testbed.certificates import write_self_signed

Answer = tuple[int, str, str]  # status, content type, body


@dataclass
class RecordingServer:
    """Answers a GET with `answers[key(path, query parameters)]`, else `default`; records every request and how
    many ran at once."""

    key: Callable[[str, dict[str, str]], str]
    default: Answer
    answers: dict[str, Answer] = field(default_factory=dict)
    delay: float = 0.0
    requests: list[dict] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> Answer:
        parts = urlsplit(handler.path)
        params = {key: values[0] for key, values in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append({"path": parts.path, "params": params, "headers": dict(handler.headers)})
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
        return self.answers.get(self.key(parts.path, params), self.default)


def serve(recorder: RecordingServer, *, tls: ssl.SSLContext | None = None) -> Iterator[RecordingServer]:
    """Serves `recorder` until the generator is closed (a fixture's `yield from`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = recorder.handle(self)
            payload = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    recorder.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}"
    yield recorder
    server.shutdown()
    server.server_close()


def tls_server_context(directory: Path, *, common_name: str) -> tuple[ssl.SSLContext, Path]:
    """A server-side TLS context with a fresh self-signed certificate, and the certificate's file (a client's CA)."""
    certificate_file, key_file = write_self_signed(directory, common_name=common_name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate_file, key_file)
    return context, certificate_file
