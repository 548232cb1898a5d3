#!/usr/bin/env bash
# demo-app/bench.sh: throughput, p99 latency and memory of demo-app against a bare actix-web
# baseline, and load-client against wrk, all on 127.0.0.1 on this machine.
#
# Usage (from anywhere): bash demo-app/bench.sh
#   ROUNDS=5        rounds; each round runs every measurement once, the two sides of each
#                   comparison back to back (alternating which goes first), and the summary
#                   reports medians and per-round ratios (the machine is shared: single runs lie)
#   DURATION=10s    length of each wrk / load-client run
#   CONNECTIONS=64  concurrent connections for wrk and load-client
#   THREADS=2       wrk threads
#   QUIET_IDLE=85   before each round, wait until the machine was at least this % idle over
#                   2 s (other builds running on the shared cores skew every number); 0 = don't
#   QUIET_MAX_WAIT=900  seconds to wait for that before measuring anyway (and saying so)
#   LOG_SINK=null   where demo-app's stdout (start-up line + one access-log line per request)
#                   goes: null (/dev/null) or pipe (through `cat` into /dev/null, like a
#                   container runtime reading stdout)
#
# Servers: blue and green are demo-app (default RUST_LOG=info, so the access log is on; green
# may fetch from 127.0.0.1), bare is demo-app/examples/bare.rs (same JSON, no allow-list, no
# log). wrk shares the two cores with the server under test, exactly like load-client does.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
LOG_SINK=${LOG_SINK:-null}
QUIET_IDLE=${QUIET_IDLE:-85}
QUIET_MAX_WAIT=${QUIET_MAX_WAIT:-900}

cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)" >&2
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
# Two builds, not one: built together, cargo would unify demo-app's dependency features with
# load-client's (rustls), and the measured demo-app would not be the one that ships.
cargo build --release -p demo-app --bins --examples
cargo build --release -p load-client --bins
BIN=target/release

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME CMD...: run CMD (stdout to $WORK/NAME.out, or through a pipe into cat when
# STDOUT_PIPE=1), wait for its port line, set PORT_NAME and PID_NAME.
start() {
    local name=$1
    shift
    if [ "${STDOUT_PIPE:-0}" = 1 ]; then
        # The reader keeps the first line (the port) and drains the rest, like a log collector.
        mkfifo "$WORK/$name.fifo"
        { head -n1 >"$WORK/$name.out"; cat >/dev/null; } <"$WORK/$name.fifo" &
        PIDS+=("$!")
        "$@" >"$WORK/$name.fifo" 2>"$WORK/$name.err" &
    else
        "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    fi
    local pid=$!
    PIDS+=("$pid")
    local port=""
    for _ in $(seq 100); do
        port=$(grep -m1 -oE 'port: [0-9]+' "$WORK/$name.out" 2>/dev/null | cut -d' ' -f2 || true)
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "$name did not start" >&2; cat "$WORK/$name.err" >&2; exit 1; }
    printf -v "PORT_$name" '%s' "$port"
    printf -v "PID_$name" '%s' "$pid"
}

# start_demo NAME ENV...: a demo-app on 127.0.0.1:0 (env execs it, so the pid is demo-app's).
start_demo() {
    local name=$1
    shift
    STDOUT_PIPE=$([ "$LOG_SINK" = pipe ] && echo 1 || echo 0) \
        start "$name" env SERVICE_HOST=127.0.0.1 SERVICE_PORT=0 "$@" "$BIN/demo-app"
}

# idle_percent: share of CPU time the whole machine spent idle over the next 2 seconds.
idle_percent() {
    local a b
    read -r -a a < <(head -1 /proc/stat)
    sleep 2
    read -r -a b < <(head -1 /proc/stat)
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    echo $(( 100 * (b[4] - a[4]) / (total > 0 ? total : 1) ))
}

# wait_quiet: hold the next round until nothing else is using the CPUs.
wait_quiet() {
    [ "$QUIET_IDLE" -gt 0 ] || return 0
    local waited=0 idle
    while idle=$(idle_percent); [ "$idle" -lt "$QUIET_IDLE" ]; do
        waited=$((waited + 2))
        if [ "$waited" -ge "$QUIET_MAX_WAIT" ]; then
            echo "  machine still busy (${idle}% idle) after ${QUIET_MAX_WAIT}s: measuring anyway" >&2
            return 0
        fi
    done
    [ "$waited" -eq 0 ] || echo "  waited ${waited}s for an idle machine (${idle}% idle)" >&2
}

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

case "$LOG_SINK" in null | pipe) ;; *) echo "LOG_SINK must be null or pipe" >&2; exit 2 ;; esac

start_demo blue SERVICE_NAME=blue SERVICE_VERSION=1
start_demo green SERVICE_NAME=green SERVICE_VERSION=1 DOWNSTREAM_ALLOW=127.0.0.1
start bare "$BIN/examples/bare"
sleep 0.5
# The binaries are the direct children (env execs), so these pids are the servers themselves.
REST_BLUE=$(rss "$PID_blue")
REST_GREEN=$(rss "$PID_green")
REST_BARE=$(rss "$PID_bare")

ROOT="http://127.0.0.1:$PORT_blue/"
BARE_ROOT="http://127.0.0.1:$PORT_bare/"
DOWN="http://127.0.0.1:$PORT_green/downstream/127.0.0.1:$PORT_blue"
BARE_DOWN="http://127.0.0.1:$PORT_bare/downstream/127.0.0.1:$PORT_blue"

# Warm up connections and pools.
for url in "$ROOT" "$BARE_ROOT" "$DOWN" "$BARE_DOWN"; do
    wrk -t"$THREADS" -c"$CONNECTIONS" -d1s "$url" >/dev/null
done

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
TICK=$(getconf CLK_TCK)
# cpu_ticks PID: clock ticks of CPU (user + system) the process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# timed FILE CMD...: run CMD, pass its stdout through, write the CPU seconds it used to FILE.
timed() {
    python3 -c '
import resource, subprocess, sys
p = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE)
sys.stdout.buffer.write(p.stdout)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.3f" % (r.ru_utime + r.ru_stime))
sys.exit(p.returncode)
' "$@"
}
# record LABEL RPS P99 REQUESTS SERVER_TICKS CLIENT_SECONDS: one result row, CPU per request in us.
record() {
    local row
    row=$(awk -v l="$1" -v rps="$2" -v p99="$3" -v n="$4" -v st="$5" -v cs="$6" -v tick="$TICK" \
        'BEGIN {printf "%s\t%s\t%s\t%.2f\t%.2f", l, rps, p99, st / tick * 1e6 / n, cs * 1e6 / n}')
    echo "$row" >>"$RESULTS"
    awk -F'\t' '{printf "  %s: %.0f req/s, p99 %s ms, CPU per request: server %s us, client %s us\n", $1, $2, $3, $4, $5}' <<<"$row" >&2
}
# wrk_run LABEL URL SERVER_PID: one wrk run.
wrk_run() {
    local before out after
    before=$(cpu_ticks "$3")
    out=$(timed "$WORK/client_cpu" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2")
    after=$(cpu_ticks "$3")
    local errors
    errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
    [ -z "$errors" ] || echo "  $1: $errors" >&2
    record "$1" \
        "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")" \
        "$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/, "", v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v*=1000}; print v}' <<<"$out")" \
        "$(awk '/requests in/ {print $1}' <<<"$out")" \
        "$((after - before))" "$(cat "$WORK/client_cpu")"
}
# lc_run LABEL URL SERVER_PID: one load-client run in load mode, same connection count.
lc_run() {
    local before json after
    before=$(cpu_ticks "$3")
    json=$(timed "$WORK/client_cpu" "$BIN/load-client" "$2" --concurrency "$CONNECTIONS" --duration "$DURATION" --json 2>/dev/null)
    after=$(cpu_ticks "$3")
    local fields
    fields=$(python3 -c '
import json, sys
s = json.loads(sys.argv[2])
bad = {k: v for k, v in s["keys"].items() if not k.startswith("blue:")}
if bad: print("  %s: unexpected keys %s" % (sys.argv[1], bad), file=sys.stderr)
print("%.2f %.2f %d" % (s["requests_per_sec"], s["latency"]["p99_ms"], s["requests"]))
' "$1" "$json")
    read -r rps p99 n <<<"$fields"
    record "$1" "$rps" "$p99" "$n" "$((after - before))" "$(cat "$WORK/client_cpu")"
}

# The measurements compared in pairs.
bare_root() { wrk_run "bare GET /" "$BARE_ROOT" "$PID_bare"; }
app_root() { wrk_run "demo-app GET /" "$ROOT" "$PID_blue"; }
wrk_load() { wrk_run "wrk -c$CONNECTIONS vs demo-app GET /" "$ROOT" "$PID_blue"; }
client_load() { lc_run "load-client -c$CONNECTIONS vs demo-app GET /" "$ROOT" "$PID_blue"; }
bare_down() { wrk_run "bare GET /downstream" "$BARE_DOWN" "$PID_bare"; }
app_down() { wrk_run "demo-app GET /downstream" "$DOWN" "$PID_green"; }

# in_turn A B: runs the two sides of a comparison back to back (after a wait_quiet); which
# side goes first alternates between rounds, so a disturbance starting mid-pair does not always
# penalise the same side.
in_turn() {
    if [ $((round % 2)) = 1 ]; then "$1"; "$2"; else "$2"; "$1"; fi
}

echo "machine: $(nproc) cores, kernel $(uname -r), load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    wait_quiet
    in_turn bare_root app_root
    wait_quiet
    # Sample blue's RSS while it is under load (half-way through a run).
    ( sleep "$(( ${DURATION%s} / 2 ))"; rss "$PID_blue" >"$WORK/load_rss" ) &
    in_turn wrk_load client_load
    wait "$!" 2>/dev/null || true
    wait_quiet
    in_turn bare_down app_down
done
LOAD_BLUE=$(cat "$WORK/load_rss")
HWM_BLUE=$(hwm "$PID_blue")
HWM_GREEN=$(hwm "$PID_green")

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); rounds: $ROUNDS x $DURATION, -t$THREADS -c$CONNECTIONS, demo-app log sink: $LOG_SINK"
python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, *values = line.rstrip("\n").split("\t")
    rows.setdefault(label, []).append([float(v) for v in values])
def med(label, i):
    return statistics.median(r[i] for r in rows[label])
print("| measurement | req/s (median) | p99 ms (median) | server CPU us/req | client CPU us/req | runs req/s |")
print("| --- | ---: | ---: | ---: | ---: | --- |")
for label in rows:
    runs = ", ".join(f"{r[0]:,.0f}" for r in rows[label])
    print(f"| {label} | {med(label, 0):,.0f} | {med(label, 1):.2f} | {med(label, 2):.2f} | {med(label, 3):.2f} | {runs} |")
def ratios(a, b):
    return [x[0] / y[0] for x, y in zip(rows[a], rows[b])]
def pct(values):
    return ", ".join(f"{100 * v:.0f}%" for v in values)
root_runs = [r[0] for r in rows["demo-app GET /"]]
down_runs = [r[0] for r in rows["demo-app GET /downstream"]]
vs_bare = ratios("demo-app GET /", "bare GET /")
wrk_label = next(l for l in rows if l.startswith("wrk -c"))
lc_label = next(l for l in rows if l.startswith("load-client"))
vs_wrk = ratios(lc_label, wrk_label)
cpu_ratio = med("demo-app GET /", 2) / med("bare GET /", 2)
print()
print(f"- GET /: median {statistics.median(root_runs):,.0f} req/s = {statistics.median(root_runs) / 18000:.1f}x Express, "
      f"best round {max(root_runs):,.0f} = {max(root_runs) / 18000:.1f}x (18,000 req/s; target >= 7x)")
print(f"- GET / vs bare, per round: {pct(vs_bare)}, median {100 * statistics.median(vs_bare):.0f}% (target >= 85%); "
      f"server CPU per request {100 * cpu_ratio:.0f}% of bare's")
print(f"- GET /downstream: median {statistics.median(down_runs):,.0f} req/s = {statistics.median(down_runs) / 4200:.1f}x Express "
      f"(4,200 req/s; target >= 8x)")
print(f"- load-client / wrk, same server, same -c, per round: {pct(vs_wrk)}, median {100 * statistics.median(vs_wrk):.0f}% "
      f"(target >= 80%); client CPU per request: load-client {med(lc_label, 3):.2f} us, wrk {med(wrk_label, 3):.2f} us")
PY
echo "- RSS at rest: blue ${REST_BLUE} kB, green ${REST_GREEN} kB, bare ${REST_BARE} kB (target < 10240 kB)"
echo "- RSS of blue under load (mid-run): ${LOAD_BLUE} kB; peak (VmHWM) blue ${HWM_BLUE} kB, green (downstream hop) ${HWM_GREEN} kB"
