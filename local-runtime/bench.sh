#!/usr/bin/env bash
# local-runtime/bench.sh: the local runtime's two benchmarks (BENCHMARKS.md, "Local runtime").
#
#  1. Throughput and p99 latency with wrk (-t2 -c64 -d10s by default) directly against one
#     demo-app task, then through the gateway (/blue: one proxy hop, same task), then /split.
#  2. Time from `deploy --local` to healthy for appmesh with the binaries already built, as a user
#     runs it (`cargo xtask deploy`, cargo's no-op build included) and without the build step.
#  3. A 5-step local linear rollout of the rollout app with `--minute 1s` while the load client
#     sends 2,000 req/s to web: how long it took against the time its bakes imply.
#
# `local-runtime/bench.sh rollout` runs only the third.
# Uses release builds of demo-app and meshtest-local (MESHTEST_LOCAL_PROFILE=release); xtask
# itself stays a debug build (it only sends the model). Needs wrk and python3.
# Usage: local-runtime/bench.sh [wrk duration, default 10s] [deploy runs, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."

ONLY=
if [ "${1:-}" = rollout ]; then ONLY=rollout; shift; fi
DURATION=${1:-10s}
RUNS=${2:-5}
STACK=bench-local
export MESHTEST_LOCAL_PROFILE=release
export MESHTEST_LOCAL_GATEWAY_PORT=${MESHTEST_LOCAL_GATEWAY_PORT:-0}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

xtask() { cargo xtask "$@" --stack-name "$STACK"; }
cleanup() { xtask destroy appmesh --local >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

echo "== machine"
echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"

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
if [ "$ONLY" = rollout ]; then rollout_bench; exit 0; fi

echo "== build (release) and deploy"
xtask deploy appmesh --local >/dev/null
status=$(xtask status appmesh --local --json)
field() { python3 -c "import json,sys; s=json.load(sys.stdin); print($1)" <<<"$status"; }
gateway=$(field 's["gateway"]["url"]')
task=$(field '[x for x in s["services"] if x["name"]=="blue"][0]["tasks"][0]["url"]')
service=$(field '[x for x in s["services"] if x["name"]=="blue"][0]["url"]')

# wrk's Requests/sec and the 99% line of --latency.
run_wrk() {
  local label=$1 url=$2 out rps p99
  out=$(wrk -t2 -c64 -d"$DURATION" --latency "$url")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local errors
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  printf '%-28s %-40s %12s req/s   p99 %8s   %s\n' "$label" "$url" "$rps" "$p99" "$errors"
  echo "$rps" >"/tmp/bench-local-$label"
}

echo "== wrk -t2 -c64 -d$DURATION (release binaries)"
wrk -t2 -c64 -d2s "$task/" >/dev/null # warm-up
run_wrk direct "$task/"
run_wrk gateway-blue "$gateway/blue"
run_wrk service-listener "$service/"
run_wrk gateway-split "$gateway/split"
python3 - <<'EOF'
d = float(open("/tmp/bench-local-direct").read())
g = float(open("/tmp/bench-local-gateway-blue").read())
print(f"gateway /blue = {100 * g / d:.0f}% of direct (target: at least 60%)")
EOF

echo "== deploy to healthy (appmesh, binaries built, $RUNS runs each)"
measure() {
  local label=$1; shift
  local times=()
  for _ in $(seq "$RUNS"); do
    cleanup
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    end=$(date +%s.%N)
    times+=("$(python3 -c "print(f'{$end - $start:.2f}')")")
  done
  echo "$label: ${times[*]} s"
}
measure "release: cargo xtask deploy appmesh --local (no-op cargo build included)" \
  cargo xtask deploy appmesh --local --stack-name "$STACK"
measure "release: target/debug/xtask deploy appmesh --local, MESHTEST_LOCAL_NO_BUILD=1" \
  env MESHTEST_LOCAL_NO_BUILD=1 target/debug/xtask deploy appmesh --local --stack-name "$STACK"
# The quick start's default: debug binaries (built once here, outside the measurement).
export MESHTEST_LOCAL_PROFILE=debug
cleanup
xtask deploy appmesh --local >/dev/null
measure "debug: cargo xtask deploy appmesh --local (no-op cargo build included)" \
  cargo xtask deploy appmesh --local --stack-name "$STACK"
cleanup
xtask deploy appmesh --local | grep -E '^healthy in'

rollout_bench
