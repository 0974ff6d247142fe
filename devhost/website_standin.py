"""A local stand-in for the D4S2 website's ``POST /api/v2/az-transfers/`` (contract §2).

It answers as the website does: 401 without the right ``Token``, 413 past nginx's default
1 MiB body limit, 400 ``Unable to find delivery ...`` for an unknown (delivery, transfer uuid),
400 ``Delivery X not in TRANSFERRING state.`` once a result was recorded, 200 when it records.
Tests can make it answer 5xx a number of times first, or record a result and then answer 500
(as the website does when its e-mail step fails after it saved the manifest). It runs in a
thread of the caller.
"""

from __future__ import annotations

import argparse
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/api/v2/az-transfers/"
NGINX_DEFAULT_MAX_BODY = 1024 * 1024


@dataclass
class Delivery:
    delivery_id: str
    transfer_uuid: str
    state: str = "TRANSFERRING"
    result: dict | None = None


@dataclass
class WebsiteStandIn:
    token: str
    max_body_bytes: int = NGINX_DEFAULT_MAX_BODY
    accept_any: bool = False  # treat an unknown (delivery, uuid) as a TRANSFERRING attempt
    port: int = 0
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    attempts: list[dict] = field(default_factory=list)  # every POST: status and body
    failures_to_serve: list[int] = field(default_factory=list)
    # results to record and then answer 500 for (the website's e-mail step failing after it
    # saved the delivery as ACCEPTED with its manifest, outside any transaction)
    saves_then_fails: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # set-up ---------------------------------------------------------------------------------
    def expect(self, delivery_id, transfer_uuid) -> None:
        """The website started this attempt (it is TRANSFERRING)."""
        with self.lock:
            self.deliveries[str(delivery_id)] = Delivery(str(delivery_id), str(transfer_uuid))

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self.failures_to_serve.extend([status] * count)

    def save_then_fail_next(self, count: int = 1) -> None:
        """The next `count` results it records are answered 500 all the same."""
        with self.lock:
            self.saves_then_fails += count

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def recorded(self, delivery_id) -> dict | None:
        with self.lock:
            found = self.deliveries.get(str(delivery_id))
            return found.result if found else None

    # the endpoint ---------------------------------------------------------------------------
    def answer(self, authorization: str | None, body_bytes: bytes) -> tuple[int, object]:
        status: int
        reply: object
        with self.lock:
            if authorization != f"Token {self.token}":
                status, reply = 401, {"detail": "Invalid token."}
            elif len(body_bytes) > self.max_body_bytes:
                status, reply = 413, "413 Request Entity Too Large"
            elif self.failures_to_serve:
                status, reply = self.failures_to_serve.pop(0), "Server Error (500)"
            else:
                status, reply = self._record(body_bytes)
                if status == 200 and self.saves_then_fails:
                    self.saves_then_fails -= 1
                    status, reply = 500, "Server Error (500)"
            self.attempts.append({"status": status, "bytes": len(body_bytes),
                                  "body": _parsed(body_bytes)})
            return status, reply

    def _record(self, body_bytes: bytes) -> tuple[int, object]:
        body = _parsed(body_bytes)
        if not isinstance(body, dict) or "transfer_uuid" not in body or "delivery_id" not in body:
            return 400, {"detail": "transfer_uuid and delivery_id are required"}
        delivery_id, transfer_uuid = str(body["delivery_id"]), str(body["transfer_uuid"])
        found = self.deliveries.get(delivery_id)
        if self.accept_any and (found is None or found.transfer_uuid != transfer_uuid):
            found = self.deliveries[delivery_id] = Delivery(delivery_id, transfer_uuid)
        if found is None or found.transfer_uuid != transfer_uuid:
            return 400, [f"Unable to find delivery for delivery_id:{delivery_id} and "
                         f"transfer_uuid:{transfer_uuid}"]
        if found.state != "TRANSFERRING":
            return 400, [f"Delivery {delivery_id} not in TRANSFERRING state."]
        found.state = "FAILED" if body.get("error_message") else "ACCEPTED"
        found.result = body
        return 200, {"delivery_id": body["delivery_id"], "transfer_uuid": transfer_uuid}

    # serving --------------------------------------------------------------------------------
    def start(self) -> WebsiteStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body_bytes = self.rfile.read(length)
                status: int
                reply: object
                if self.path.split("?")[0] != PATH:
                    status, reply = 404, {"detail": "Not found."}
                else:
                    status, reply = standin.answer(self.headers.get("Authorization"), body_bytes)
                encoded = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="website-standin").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> WebsiteStandIn:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _parsed(body_bytes: bytes):
    try:
        return json.loads(body_bytes)
    except ValueError:
        return None


def command_line() -> argparse.ArgumentParser:
    """The arguments of ``python -m devhost.website_standin``."""
    parser = argparse.ArgumentParser(prog="python -m devhost.website_standin")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--token", default="local-dev-token",
                        help="the token the app must send (its DDD_WEBSITE_TOKEN)")
    return parser


def main() -> None:
    """``python -m devhost.website_standin``: serve the stand-in for manual runs; print what
    arrives."""
    import time

    options = command_line().parse_args()
    standin = WebsiteStandIn(token=options.token, accept_any=True, port=options.port).start()
    print(f"website stand-in on {standin.url}{PATH}; Ctrl-C to stop", flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            with standin.lock:
                new, seen = standin.attempts[seen:], len(standin.attempts)
            for attempt in new:
                print(json.dumps(attempt, indent=2, ensure_ascii=False)[:4000], flush=True)
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
