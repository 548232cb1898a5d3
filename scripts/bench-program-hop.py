#!/usr/bin/env python3
"""One Service Connect hop to a service's own program, three ways, in interleaved rounds.

Usage: bench-program-hop.py STACK_STATE_DIR NAME:PORT [ROUNDS] [PER_ROUND]

Reads runtime.json of a running local stack and sends keep-alive GETs over plain sockets:
  direct      to one task of the service (no proxy),
  namespace   to the client alias's own address in 127.255.0.0/16 (what a program whose
              /etc/hosts maps NAME connects to),
  http_proxy  to the egress proxy with an absolute URI (what a client honouring HTTP_PROXY sends).
Each round runs PER_ROUND requests per way, the ways in turn, so drift hits all alike. Prints
p50 and p99 per way (ms) and the hop's added p50 over direct.
"""

import json
import socket
import sys
import time
from pathlib import Path


def alias_address(stack, name):
    # Same as local_runtime::plan::program::alias_addresses for a name without collision.
    h = 0x811C9DC5
    for b in (stack + "/" + name).encode():
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    first = (127 << 24) | (255 << 16) | 1
    span = (127 << 24 | 255 << 16 | 255 << 8 | 254) - first + 1
    a = first + h % span
    return f"{a >> 24 & 255}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"


class Conn:
    def __init__(self, host, port, line, host_header):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = f"{line}\r\nhost: {host_header}\r\n\r\n".encode()
        self.buf = b""

    def get(self):
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buf = rest[length:]
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            raise SystemExit(f"answer {status}: {head!r}")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    state = Path(sys.argv[1])
    name, port = sys.argv[2].rsplit(":", 1)
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    per = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    record = json.loads((state / "runtime.json").read_text())
    stack = record["stack"]
    service = name.split(".")[0]
    task = next(t for t in record["tasks"] if t["service"] == service)
    thost, tport = task["url"].removeprefix("http://").rsplit(":", 1)
    ehost, eport = record["egressUrl"].removeprefix("http://").rsplit(":", 1)
    ways = {
        "direct": Conn(thost, int(tport), "GET / HTTP/1.1", f"{thost}:{tport}"),
        "namespace": Conn(alias_address(stack, name), int(port), "GET / HTTP/1.1", f"{name}:{port}"),
        "http_proxy": Conn(ehost, int(eport), f"GET http://{name}:{port}/ HTTP/1.1", f"{name}:{port}"),
    }
    samples = {w: [] for w in ways}
    for conn in ways.values():  # warm up
        for _ in range(50):
            conn.get()
    for _ in range(rounds):
        for way, conn in ways.items():
            for _ in range(per):
                t = time.perf_counter()
                conn.get()
                samples[way].append((time.perf_counter() - t) * 1000)
    base = pct(samples["direct"], 0.5)
    for way, values in samples.items():
        p50, p99 = pct(values, 0.5), pct(values, 0.99)
        print(f"{way:11} n={len(values)} p50={p50:.3f}ms p99={p99:.3f}ms added_p50={p50 - base:+.3f}ms")


if __name__ == "__main__":
    main()
