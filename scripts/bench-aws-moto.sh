#!/usr/bin/env bash
# Deploy and destroy of serviceconnect against a local moto server: wall time per command and
# the AWS API calls each makes (BENCHMARKS.md "AWS deploy and destroy (moto)").
# Needs the pinned moto: run `cargo xtask test` once (it installs target/py-tools).
# Usage: scripts/bench-aws-moto.sh [runs]   (default 10; debug build, set PROFILE=release for release)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
profile=${PROFILE:-debug}
python=target/py-tools/bin/python
[ -x "$python" ] || { echo "moto is not installed: run cargo xtask test first" >&2; exit 1; }
if [ "$profile" = release ]; then cargo build --release --quiet -p xtask; else cargo build --quiet -p xtask; fi
bin=target/$profile/xtask
work=$(mktemp -d)
# The same patched moto the tests use (tests/src/moto_compat.py), on an OS-chosen port.
"$python" -c "$(cat tests/src/moto_compat.py)" -H 127.0.0.1 -p 0 >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null; wait "$moto_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 300); do
  port=$(grep -o 'Running on http://127.0.0.1:[0-9]*' "$work/moto.log" | head -1 | sed 's/.*://') || true
  [ -n "${port:-}" ] && break
  sleep 0.1
done
[ -n "${port:-}" ] || { echo "moto did not start:" >&2; cat "$work/moto.log" >&2; exit 1; }
# Fake credentials only; nothing leaves 127.0.0.1.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/nonexistent/aws-config AWS_SHARED_CREDENTIALS_FILE=/nonexistent/aws-credentials
export AWS_EC2_METADATA_DISABLED=true MESHTEST_DEBUG_API_CALLS=1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_DEFAULT_REGION
endpoint="http://127.0.0.1:$port"
echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); xtask $profile build; moto $("$python" -c 'import moto; print(moto.__version__)')"
now() { date +%s.%N; }
: >"$work/deploy.tsv"; : >"$work/destroy.tsv"
for i in $(seq "$runs"); do
  stack="bench-$i"
  t0=$(now)
  "$bin" deploy serviceconnect --stack-name "$stack" --yes --image nginx --allow-cidr 203.0.113.7/32 \
    --endpoint-url "$endpoint" >/dev/null 2>"$work/deploy.err"
  t1=$(now)
  "$bin" destroy serviceconnect --stack-name "$stack" --yes --endpoint-url "$endpoint" >/dev/null 2>"$work/destroy.err"
  t2=$(now)
  reach=$(grep -o 'within [0-9.]*s' "$work/deploy.err" | grep -o '[0-9.]*' || echo '?')
  printf '%s\t%s\t%s\n' "$(echo "$t1 - $t0" | bc)" "$(grep -o 'aws api calls: [0-9]*' "$work/deploy.err" | grep -o '[0-9]*$')" "$reach" >>"$work/deploy.tsv"
  printf '%s\t%s\n' "$(echo "$t2 - $t1" | bc)" "$(grep -o 'aws api calls: [0-9]*' "$work/destroy.err" | grep -o '[0-9]*$')" >>"$work/destroy.tsv"
done
echo "last deploy:  $(grep 'aws api calls' "$work/deploy.err")"
echo "last destroy: $(grep 'aws api calls' "$work/destroy.err")"
python3 - "$work" <<'PY'
import statistics, sys
work = sys.argv[1]
def rows(name):
    return [line.split("\t") for line in open(f"{work}/{name}.tsv") if line.strip()]
for name in ("deploy", "destroy"):
    r = rows(name)
    wall = sorted(float(x[0]) for x in r)
    calls = sorted({int(x[1]) for x in r})
    print(f"| {name} | {len(r)} | {statistics.median(wall)*1000:.0f} ms | {wall[0]*1000:.0f} ms | {wall[-1]*1000:.0f} ms | {', '.join(map(str, calls))} |")
reach = [float(x[2]) for x in rows("deploy") if x[2] != "?"]
if reach:
    print(f"deploy: stack status seen terminal at most {max(reach)*1000:.0f} ms after ExecuteChangeSet returned (median {statistics.median(reach)*1000:.0f} ms)")
PY
