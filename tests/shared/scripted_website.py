"""A scripted HTTP server for unit tests of the website client: given answers, recorded requests.

The contract-faithful stand-in used by the demo and end-to-end tests is
`devhost.website_standin.WebsiteStandIn`; this one answers whatever a test scripts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ScriptedWebsite:
    """Answers POSTs with the scripted (status, text) answers in order (the last one repeats)
    and records each request (path, headers, raw content, parsed body)."""

    answers: list[tuple[int, str]] = field(default_factory=lambda: [(200, '{"ok": true}')])
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def answer_for(self, index: int) -> tuple[int, str]:
        return self.answers[min(index, len(self.answers) - 1)]


@contextmanager
def running_website() -> Iterator[ScriptedWebsite]:
    stand_in = ScriptedWebsite()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", "0"))
            content = self.rfile.read(length)
            with lock:
                index = len(stand_in.received)
                stand_in.received.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "content": content,
                        "body": json.loads(content) if content else None,
                    }
                )
            status, text = stand_in.answer_for(index)
            encoded = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base signature)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
