"""Serves one file as Prometheus text at /metrics, so tests set metric values by writing that file.

Run as `python -m tests.testbed.exporter --port P --file PATH`; a missing file serves an empty page (still `up`).
"""
from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.testbed.processes import LOCALHOST

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def make_handler(metrics_file: Path) -> type[BaseHTTPRequestHandler]:
    class MetricsFileHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "only /metrics is served")
                return
            try:
                body = metrics_file.read_bytes()
            except FileNotFoundError:
                body = b""
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            """One line per scrape each second would drown the log."""

    return MetricsFileHandler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((LOCALHOST, args.port), make_handler(args.file))
    server.serve_forever()


if __name__ == "__main__":
    main()
