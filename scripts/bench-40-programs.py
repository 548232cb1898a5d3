#!/usr/bin/env python3
"""Start time and memory of a 40-service stack of the python-shop example on the local runtime.

Usage: bench-40-programs.py [SERVICES]   (from the repository root; needs the xtask built)

Writes a description with `orders` and SERVICES-1 callers of it (each `python3 shop.py`, one task,
health checked on GET /health), deploys it with `cargo xtask deploy ... --local`, and prints the
deploy's wall time and the resident memory (VmRSS) of every process of the stack, found by the
runtime's marker; then destroys it.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

root = Path.cwd()
count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
shop = json.loads((root / "examples/python-shop/shop.json").read_text())
folder = str((root / "examples/python-shop").resolve())
orders = next(s for s in shop["services"] if s["name"] == "orders")
orders["desiredCount"] = 1
orders.pop("healthCheck")
# Rolling: an error-rate alarm reads at most 10 metrics, 4 per caller (the model refuses 39).
orders.pop("deployment")
orders["local"]["healthCheckPath"] = "/health"
front = next(s for s in shop["services"] if s["name"] == "front")
services = [orders]
for i in range(1, count):
    svc = json.loads(json.dumps(front))
    svc["name"] = f"front{i}"
    svc["serviceConnect"]["discoveryName"] = f"front{i}"
    services.append(svc)
for svc in services:
    svc["local"]["workingDirectory"] = folder
shop["services"] = services
shop["name"] = f"bench-{count}-programs"
shop["albGateway"]["rules"][0]["targets"] = [{"service": "front1", "weight": 1}]
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "stack.json"
    path.write_text(json.dumps(shop))
    env = dict(os.environ, MESHTEST_LOCAL_GATEWAY_PORT="0")
    t = time.perf_counter()
    run = subprocess.run(["cargo", "xtask", "deploy", str(path), "--local"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if run.returncode != 0:
        sys.exit(run.stderr[-2000:])
    healthy = [l for l in run.stdout.splitlines() if l.startswith("healthy in")]
    state = (root / "target/local" / shop["name"]).resolve()
    needle = f"MESHTEST_LOCAL_STACK_DIR={state}".encode()
    rss = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if needle not in environ:
                continue
            status = Path(f"/proc/{pid}/status").read_text()
            name = next(l.split()[1] for l in status.splitlines() if l.startswith("Name:"))
            kb = next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmRSS:"))
            rss.setdefault(name, []).append(kb)
        except (OSError, StopIteration):
            continue
    subprocess.run(["cargo", "xtask", "destroy", str(path), "--local"], env=env, capture_output=True)
print(f"services={count} deploy_wall_s={wall:.2f} {healthy[0] if healthy else ''}")
total = 0
for name, kbs in sorted(rss.items()):
    total += sum(kbs)
    print(f"  {name:16} processes={len(kbs):3} rss_mib={sum(kbs) / 1024:.1f}")
print(f"  total rss_mib={total / 1024:.1f}")
