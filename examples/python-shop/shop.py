"""A service of the python-shop example, standard library only: run as `orders` or as `front`.

The local runtime tells it its port in PORT, its name in MESHTEST_SERVICE and its version in
MESHTEST_VERSION (on ECS: the container port, SERVICE_NAME, SERVICE_VERSION).

orders  GET /        {"service": "orders", "version": ...}; 500 when ORDERS_FAIL=1 (version 3)
front   GET /        {"service": "front", "response": <what orders answered>}: calls
                     http://orders.shop:8080/ with http.client, which ignores HTTP_PROXY: the
                     name resolves from the task's /etc/hosts, as Service Connect writes it, and
                     the headers in PROPAGATE_HEADERS are passed on (test traffic)
        GET /urllib  the same call with urllib, which does read HTTP_PROXY
both    GET /health  200
"""

import http.client
import json
import os
import signal
import socket
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = os.environ.get("MESHTEST_SERVICE") or os.environ.get("SERVICE_NAME", "orders")
VERSION = os.environ.get("MESHTEST_VERSION") or os.environ.get("SERVICE_VERSION", "unknown")
PORT = int(os.environ.get("PORT", "8080"))
ORDERS = os.environ.get("ORDERS_HOST", "orders.shop")
ORDERS_PORT = int(os.environ.get("ORDERS_PORT", "8080"))
FAIL = os.environ.get("ORDERS_FAIL") == "1"
PROPAGATE = [h.strip() for h in os.environ.get("PROPAGATE_HEADERS", "").split(",") if h.strip()]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm holds the body
        # until the client's delayed ACK, about 40 ms a request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass  # one line per request would fill the log under load

    def answer(self, status, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def passed_on(self):
        return {h: self.headers[h] for h in PROPAGATE if self.headers.get(h) is not None}

    def do_GET(self):
        if self.path == "/health":
            return self.answer(200, {"healthy": True})
        if SERVICE == "orders":
            if FAIL:
                return self.answer(500, {"service": SERVICE, "version": VERSION, "error": "version 3 fails"})
            return self.answer(200, {"service": SERVICE, "version": VERSION})
        if self.path == "/urllib":
            return self.call_with_urllib()
        return self.call_with_http_client()

    def call_with_http_client(self):
        try:
            conn = http.client.HTTPConnection(ORDERS, ORDERS_PORT, timeout=5)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.request("GET", "/", headers=self.passed_on())
            reply = conn.getresponse()
            body = json.loads(reply.read() or b"{}")
            conn.close()
        except (OSError, ValueError) as err:
            return self.answer(502, {"service": SERVICE, "error": f"http.client to {ORDERS}:{ORDERS_PORT}: {err}"})
        self.answer(reply.status, {"service": SERVICE, "response": body})

    def call_with_urllib(self):
        request = urllib.request.Request(f"http://{ORDERS}:{ORDERS_PORT}/", headers=self.passed_on())
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                status, body = reply.status, json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as err:
            status, body = err.code, json.loads(err.read() or b"{}")
        except (OSError, ValueError) as err:
            return self.answer(502, {"service": SERVICE, "error": f"urllib to {ORDERS}:{ORDERS_PORT}: {err}"})
        self.answer(status, {"service": SERVICE, "response": body})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    # ECS sends SIGTERM, then SIGKILL after stopTimeout: stop accepting and leave.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"{SERVICE} version {VERSION} listening on 127.0.0.1:{PORT}", flush=True)
    server.serve_forever()
    print(f"{SERVICE} stopped", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
