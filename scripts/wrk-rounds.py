#!/usr/bin/env python3
"""wrk-rounds.py: summarises interleaved wrk rounds (local-runtime/bench.sh, gateway throughput).

Reads DIR/round-<n>-<target>.txt (wrk --latency output) and, when present,
DIR/round-<n>-<target>.cpu (CPU seconds the proxy processes used during that run), then prints
per round and per target the throughput, p50 and p99, every error wrk reported, the medians, and
the gateway's ratios to each reference proxy per round (median and min-max).

Usage: wrk-rounds.py DIR [--gateway gateway] [--refs haproxy,nginx]
       wrk-rounds.py --self-test
"""

import argparse
import re
import statistics
import sys
from pathlib import Path

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def latency_ms(text):
    """`512.00us`, `3.21ms`, `1.02s` -> milliseconds."""
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(m.group(1)) * UNITS_MS[m.group(2)]


def parse_wrk(text):
    """One wrk --latency output -> dict(rps, requests, p50, p99, errors)."""
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    reqs = re.search(r"^\s*([0-9]+) requests in", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (rps and reqs and p50 and p99):
        raise ValueError("not a complete wrk --latency output")
    errors = []
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock and any(int(x) for x in sock.groups()):
        errors.append(sock.group(0).strip())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        errors.append(non2xx.group(0).strip())
    return {
        "rps": float(rps.group(1)),
        "requests": int(reqs.group(1)),
        "p50": latency_ms(p50.group(1)),
        "p99": latency_ms(p99.group(1)),
        "errors": errors,
    }


def load(directory):
    """{round: {target: result}} from DIR/round-<n>-<target>.txt (+ .cpu)."""
    rounds = {}
    # Runs in the order they happened, so the tables list the targets in the script's order.
    for path in sorted(Path(directory).glob("round-*-*.txt"), key=lambda p: p.stat().st_mtime):
        m = re.fullmatch(r"round-(\d+)-(.+)\.txt", path.name)
        if not m:
            continue
        result = parse_wrk(path.read_text())
        cpu = path.with_suffix(".cpu")
        if cpu.exists() and cpu.read_text().strip():
            result["cpu_us_per_req"] = float(cpu.read_text()) * 1e6 / max(result["requests"], 1)
        rounds.setdefault(int(m.group(1)), {})[m.group(2)] = result
    return rounds


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def summarise(rounds, gateway, refs):
    """The report as markdown lines, and whether the target (>= and p99 <= every ref) is met."""
    order = list(dict.fromkeys(t for r in sorted(rounds) for t in rounds[r]))
    lines = ["| round | " + " | ".join(f"{t} req/s, p50/p99 ms" for t in order) + " |"]
    lines.append("|---|" + "---|" * len(order))
    for n in sorted(rounds):
        cells = []
        for t in order:
            r = rounds[n].get(t)
            cells.append("-" if r is None else f"{r['rps']:,.0f}, {r['p50']:.2f}/{r['p99']:.2f}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", "| target | median req/s (min-max) | median p50 ms | median p99 ms (min-max) "
              "| proxy CPU us/req | errors |", "|---|---|---|---|---|---|"]
    med = {}
    for t in order:
        rs = [rounds[n][t] for n in sorted(rounds) if t in rounds[n]]
        med[t] = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p99")}
        cpus = [r["cpu_us_per_req"] for r in rs if "cpu_us_per_req" in r]
        errors = "; ".join(f"round {n}: {', '.join(rounds[n][t]['errors'])}"
                           for n in sorted(rounds) if t in rounds[n] and rounds[n][t]["errors"])
        lines.append(
            f"| {t} | {spread([r['rps'] for r in rs], lambda v: f'{v:,.0f}')} "
            f"| {med[t]['p50']:.2f} | {spread([r['p99'] for r in rs], lambda v: f'{v:.2f}')} "
            f"| {spread(cpus, lambda v: f'{v:.1f}') if cpus else '-'} | {errors or 'none'} |")
    lines += ["", "| ratio (per round) | throughput median (min-max) | p99 median (min-max) |",
              "|---|---|---|"]
    met = True
    for ref in refs:
        both = [n for n in sorted(rounds) if gateway in rounds[n] and ref in rounds[n]]
        if not both:
            continue
        tput = [rounds[n][gateway]["rps"] / rounds[n][ref]["rps"] for n in both]
        p99 = [rounds[n][gateway]["p99"] / rounds[n][ref]["p99"] for n in both]
        lines.append(f"| {gateway} / {ref} | {spread(tput, lambda v: f'{v:.2f}')} "
                     f"| {spread(p99, lambda v: f'{v:.2f}')} |")
    target_ref = refs[0] if refs else None
    if target_ref in med and gateway in med:
        g, h = med[gateway], med[target_ref]
        met = g["rps"] >= h["rps"] and g["p99"] <= h["p99"]
        lines += ["", f"target (median of {len(rounds)} rounds: {gateway} req/s >= {target_ref}'s "
                      f"and p99 <= {target_ref}'s): {'met' if met else 'NOT met'} "
                      f"({g['rps']:,.0f} vs {h['rps']:,.0f} req/s, "
                      f"p99 {g['p99']:.2f} vs {h['p99']:.2f} ms)"]
    any_errors = any(r["errors"] for rs in rounds.values() for r in rs.values())
    return lines, met, any_errors


SAMPLE = """Running 5s test @ http://127.0.0.1:1/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us    1.20ms  40.00ms   95.00%
  Latency Distribution
     50%  512.00us
     75%  700.00us
     90%    1.10ms
     99%    %s
  100000 requests in 5.00s, 12.00MB read
%sRequests/sec:  %s
Transfer/sec:      2.40MB
"""


def self_test():
    def sample(p99, rps, extra=""):
        return SAMPLE.replace("%s", p99, 1).replace("%s", extra, 1).replace("%s", rps, 1)

    r = parse_wrk(sample("3.21ms", "20000.00"))
    assert (r["rps"], r["requests"], r["p50"], r["p99"], r["errors"]) == \
        (20000.0, 100000, 0.512, 3.21, []), r
    assert parse_wrk(sample("1.50s", "1.00"))["p99"] == 1500.0
    bad = sample("9.00ms", "5.00", "  Socket errors: connect 0, read 3, write 0, timeout 1\n"
                 "  Non-2xx or 3xx responses: 7\n")
    assert parse_wrk(bad)["errors"] == ["Socket errors: connect 0, read 3, write 0, timeout 1",
                                        "Non-2xx or 3xx responses: 7"]
    clean = sample("9.00ms", "5.00", "  Socket errors: connect 0, read 0, write 0, timeout 0\n")
    assert parse_wrk(clean)["errors"] == []
    try:
        parse_wrk("wrk: connection refused")
        raise AssertionError("accepted an incomplete output")
    except ValueError:
        pass
    rounds = {1: {"gateway": parse_wrk(sample("2.00ms", "30.00")),
                  "haproxy": parse_wrk(sample("3.00ms", "20.00"))},
              2: {"gateway": parse_wrk(sample("4.00ms", "10.00")),
                  "haproxy": parse_wrk(sample("2.00ms", "20.00"))},
              3: {"gateway": parse_wrk(sample("2.00ms", "40.00")),
                  "haproxy": parse_wrk(sample("3.00ms", "20.00"))}}
    lines, met, errors = summarise(rounds, "gateway", ["haproxy"])
    assert met and not errors, lines
    assert "| gateway / haproxy | 1.50 (0.50-2.00) | 0.67 (0.67-2.00) |" in lines, lines
    rounds[3]["gateway"] = parse_wrk(sample("2.00ms", "15.00"))
    assert not summarise(rounds, "gateway", ["haproxy"])[1]
    print("wrk-rounds self-test: 6 passed, 0 failed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--gateway", default="gateway")
    ap.add_argument("--refs", default="haproxy,nginx")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        self_test()
        return 0
    if not args.dir:
        ap.error("DIR is required")
    rounds = load(args.dir)
    if not rounds:
        print(f"no wrk rounds in {args.dir}", file=sys.stderr)
        return 1
    lines, _, any_errors = summarise(rounds, args.gateway, args.refs.split(","))
    print("\n".join(lines))
    if any_errors:
        print("\nwrk reported errors (see the errors column): these runs are not comparable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
