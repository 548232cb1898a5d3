#!/usr/bin/env bash
# local-runtime/bench.sh: the local runtime's benchmarks (BENCHMARKS.md, "Local runtime").
#
#  1. Gateway throughput (gw_* functions): wrk -t2 -c64 --latency against one demo-app task
#     directly, through the gateway (`/blue`: one proxy hop, `/blue` rewritten to `/`), and through
#     nginx and HAProxy configured as a user would (scripts/bench-proxies.sh) with the same
#     rewrite to the same task, interleaved in rounds (direct, gateway, nginx, haproxy; then the
#     next round). Reports per target the median req/s, p50, p99, the proxy's CPU per request, and
#     the gateway's ratios to HAProxy and nginx per round (median, min-max), via
#     scripts/wrk-rounds.py. Then one run each through the service listener and `/split`.
#  2. Time from `deploy --local` to healthy for appmesh with the binaries already built, as a user
#     runs it (`cargo xtask deploy`, cargo's no-op build included) and without the build step.
#  3. A 5-step local linear rollout of the rollout app with `--minute 1s` while the load client
#     sends 2,000 req/s to web: how long it took against the time its bakes imply.
#
# Uses release builds of demo-app and meshtest-local (MESHTEST_LOCAL_PROFILE=release); xtask
# itself stays a debug build (it only sends the model). Needs wrk, nginx, haproxy, curl, python3:
# installed with apt-get when missing and running as root, otherwise it names the packages.
#
# Usage: local-runtime/bench.sh [rollout] [wrk duration, default 5s] [deploy runs, default 5]
# (`rollout` runs only the third). Environment: ROUNDS (interleaved rounds, default 5), SECTIONS
# (default "throughput deploy rollout"),
# KEEP=1 keeps the wrk outputs and proxy configs (the folder is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../scripts/bench-proxies.sh
source scripts/bench-proxies.sh

if [ "${1:-}" = rollout ]; then SECTIONS=rollout; shift; fi
DURATION=${1:-5s}
RUNS=${2:-5}
ROUNDS=${ROUNDS:-5}
SECTIONS=${SECTIONS:-throughput deploy rollout}
STACK=bench-local
export MESHTEST_LOCAL_PROFILE=release
export MESHTEST_LOCAL_GATEWAY_PORT=${MESHTEST_LOCAL_GATEWAY_PORT:-0}
WORK=$(mktemp -d /tmp/meshtest-bench.XXXXXX)

xtask() { cargo xtask "$@" --stack-name "$STACK"; }
destroy_stack() { xtask destroy appmesh --local >/dev/null 2>&1 || true; }
cleanup() {
  proxies_stop
  destroy_stack
  if [ "${KEEP:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
section() { [[ " $SECTIONS " == *" $1 "* ]]; }

echo "== machine"
echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. gateway throughput ------------------------------------------------------------------

# Sets GW_GATEWAY, GW_TASK (URLs) and GW_SUPERVISOR_PID from a fresh appmesh deploy.
gw_deploy() {
  destroy_stack
  xtask deploy appmesh --local >/dev/null
  local status
  status=$(xtask status appmesh --local --json)
  local fields
  fields=$(python3 -c '
import json, sys
s = json.load(sys.stdin)
blue = [x for x in s["services"] if x["name"] == "blue"][0]
print(s["gateway"]["url"], blue["tasks"][0]["url"], blue["url"])' <<<"$status")
  read -r GW_GATEWAY GW_TASK GW_SERVICE <<<"$fields"
  GW_SUPERVISOR_PID=$(python3 -c '
import json, sys
print(json.load(open(sys.argv[1]))["supervisor"]["pid"])' "target/local/$STACK/runtime.json")
}

# Sums utime+stime (seconds) of the given pids from /proc.
gw_cpu_seconds() {
  local ticks=0 pid t
  for pid in "$@"; do
    t=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    ticks=$((ticks + t))
  done
  python3 -c "print($ticks / $(getconf CLK_TCK))"
}

# Fails unless BASE answers like the task: `BASE` gives the task's `/` JSON, and
# `BASE/downstream/169.254.169.254` gives the task's refusal for that target (demo-app's
# allow-list refuses the metadata address without connecting), which only happens when the
# proxy rewrote the prefix away; without the rewrite the task would answer the plain JSON.
gw_check_target() {
  local label=$1 base=$2 want_ok want_refused got
  want_ok=$(curl -sf "$GW_TASK/")
  want_refused=$(curl -s -w ' %{http_code}' "$GW_TASK/downstream/169.254.169.254")
  [[ $want_ok == *'"service":"blue"'* ]] || { echo "task answers unexpectedly: $want_ok" >&2; return 1; }
  [ "$want_refused" != "$want_ok 200" ] || { echo "task does not refuse the probe target" >&2; return 1; }
  got=$(curl -sf "$base") || { echo "$label: GET $base failed" >&2; return 1; }
  [ "$got" = "$want_ok" ] || { echo "$label: GET $base answered $got, want $want_ok" >&2; return 1; }
  got=$(curl -s -w ' %{http_code}' "$base/downstream/169.254.169.254")
  [ "$got" = "$want_refused" ] || {
    echo "$label: $base/downstream/... answered $got, want $want_refused (prefix not rewritten?)" >&2
    return 1
  }
  echo "checked $label: $base answers the task's JSON, prefix rewritten to /"
}

# gw_wrk OUT URL PIDS...: one wrk run into OUT.txt, the pids' CPU seconds during it into OUT.cpu.
gw_wrk() {
  local out=$1 url=$2 before after
  shift 2
  before=$(gw_cpu_seconds "$@")
  wrk -t2 -c64 -d"$DURATION" --latency "$url" >"$out.txt"
  after=$(gw_cpu_seconds "$@")
  [ $# -eq 0 ] || python3 -c "print($after - $before)" >"$out.cpu"
}

gw_throughput() {
  python3 scripts/wrk-rounds.py --self-test >/dev/null # the summary's parser still reads wrk
  echo "== gateway throughput: build (release) and deploy"
  gw_deploy
  mkdir -p "$WORK/proxies" "$WORK/rounds" "$WORK/extra"
  proxies_start "$WORK/proxies" "${GW_TASK#http://}"
  echo "nginx $(nginx -v 2>&1 | cut -d/ -f2), $(haproxy -v | head -1 | cut -d' ' -f1-3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  local -A url=([direct]="$GW_TASK/" [gateway]="$GW_GATEWAY/blue" [nginx]="$NGINX_URL/blue"
    [haproxy]="$HAPROXY_URL/blue")
  gw_check_target direct "$GW_TASK"
  gw_check_target gateway "$GW_GATEWAY/blue"
  gw_check_target nginx "$NGINX_URL/blue"
  gw_check_target haproxy "$HAPROXY_URL/blue"
  local nginx_pids
  nginx_pids="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
  local -A pids=([direct]="" [gateway]="$GW_SUPERVISOR_PID" [nginx]="$nginx_pids"
    [haproxy]="$HAPROXY_PID")
  local target round
  for target in direct gateway nginx haproxy; do # warm-up: pools filled, pages faulted in
    wrk -t2 -c64 -d1s "${url[$target]}" >/dev/null
  done
  echo "== wrk -t2 -c64 -d$DURATION --latency, $ROUNDS interleaved rounds"
  for round in $(seq "$ROUNDS"); do
    for target in direct gateway nginx haproxy; do
      # shellcheck disable=SC2086 # one word per pid
      gw_wrk "$WORK/rounds/round-$round-$target" "${url[$target]}" ${pids[$target]}
    done
    echo "round $round done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  done
  python3 scripts/wrk-rounds.py "$WORK/rounds" --gateway gateway --refs haproxy,nginx
  echo "== one run each: service listener, gateway /split (50/50)"
  gw_wrk "$WORK/extra/round-1-service-listener" "$GW_SERVICE/" "$GW_SUPERVISOR_PID"
  gw_wrk "$WORK/extra/round-1-gateway-split" "$GW_GATEWAY/split" "$GW_SUPERVISOR_PID"
  python3 scripts/wrk-rounds.py "$WORK/extra" --refs "" | sed -n '/^| target/,/^$/p'
  proxies_stop
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# ---- 2. deploy to healthy ---------------------------------------------------------------------

deploy_measure() {
  local label=$1
  shift
  local times=()
  for _ in $(seq "$RUNS"); do
    destroy_stack
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    end=$(date +%s.%N)
    times+=("$(python3 -c "print(f'{$end - $start:.2f}')")")
  done
  echo "$label: ${times[*]} s"
}

deploy_to_healthy() {
  echo "== deploy to healthy (appmesh, binaries built, $RUNS runs each)"
  export MESHTEST_LOCAL_PROFILE=release
  destroy_stack
  xtask deploy appmesh --local >/dev/null # builds the release binaries outside the measurement
  deploy_measure "release: cargo xtask deploy appmesh --local (no-op cargo build included)" \
    cargo xtask deploy appmesh --local --stack-name "$STACK"
  deploy_measure "release: target/debug/xtask deploy appmesh --local, MESHTEST_LOCAL_NO_BUILD=1" \
    env MESHTEST_LOCAL_NO_BUILD=1 target/debug/xtask deploy appmesh --local --stack-name "$STACK"
  # The quick start's default: debug binaries (built once here, outside the measurement).
  export MESHTEST_LOCAL_PROFILE=debug
  destroy_stack
  xtask deploy appmesh --local >/dev/null
  deploy_measure "debug: cargo xtask deploy appmesh --local (no-op cargo build included)" \
    cargo xtask deploy appmesh --local --stack-name "$STACK"
  destroy_stack
  xtask deploy appmesh --local | grep -E '^healthy in'
}

# ---- 3. a local rollout under load -----------------------------------------------------------

# 3. The rollout app: version 1, then version 2 rolled out linearly (20% steps, 1 model minute of
# step bake, 2 of final bake) under 2,000 req/s on web's listener (its production split).
rollout_bench() {
  local stack=bench-rollout rate=2000
  local summary=/tmp/bench-local-rollout-load.json
  rx() { cargo xtask "$@" --stack-name "$stack"; }
  rx destroy rollout --local >/dev/null 2>&1 || true
  cargo build --release -q -p load-client
  echo "== rollout: linear 20% x 5, --minute 1s, load client at $rate req/s (release binaries)"
  rx deploy rollout --local >/dev/null
  local web
  web=$(rx status rollout --local --json | python3 -c \
    'import json,sys; print([s for s in json.load(sys.stdin)["services"] if s["name"]=="web"][0]["url"])')
  target/release/load-client --rate "$rate" -c 16 -d 20s --json "$web/" >"$summary" 2>/dev/null &
  local load=$!
  sleep 2
  local start end
  start=$(date +%s.%N)
  rx deploy rollout --local --version 2 --minute 1s | grep -E 'rolling out|took'
  end=$(date +%s.%N)
  wait "$load"
  rx status rollout --local --json | python3 -c '
import json, sys
r = json.load(sys.stdin)["rollout"]
took, nominal, status = r["endedMs"] / 1000, r["nominalMs"] / 1000, r["progress"]["status"]
print(f"rollout {status}: {took:.2f} s from its start to the old tasks stopped; its bakes imply {nominal:.2f} s ({100 * (took - nominal) / nominal:+.1f}%)")'
  python3 -c "print(f'deploy command wall time: {$end - $start:.2f} s')"
  python3 - "$summary" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
p99 = (s.get("latency") or {}).get("p99_ms", "?")
print(f"load client: {s['requests']} requests in {s['elapsed_secs']:.1f} s = {s['requests_per_sec']:.0f} req/s, "
      f"{s['errors']} without answer, statuses {s['statuses']}, versions {s['keys']}, p99 {p99} ms")
PY
  rx destroy rollout --local >/dev/null
}

if section throughput; then proxies_install; fi
if section throughput; then gw_throughput; fi
if section deploy; then deploy_to_healthy; fi
if section rollout; then MESHTEST_LOCAL_PROFILE=release rollout_bench; fi
