#!/bin/bash
# The SIGSTOP-under-load test (xtask local::eject) against the supervisor of a base revision and
# of the working tree, interleaved: bash scripts/bench-eject.sh [rounds] [base revision].
# BENCHMARKS.md, "A new task frozen under load". The base binary is built from the base's
# proxy.rs (the data plane is all that differs); the working tree's file is restored after.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}
base=${2:-main}
export CARGO_INCREMENTAL=0
bin=target/debug/meshtest-local
tmp=$(mktemp -d)
proxy=local-supervisor/src/supervisor/proxy.rs
cp "$proxy" "$tmp/proxy.rs"
restore() {
  cp "$tmp/proxy.rs" "$proxy"
  rm -f "$bin"
  cargo build -q -p local-supervisor
  rm -rf "$tmp"
}
trap restore EXIT
cargo build -q -p local-supervisor
cp "$bin" "$tmp/branch"
git show "$base:$proxy" > "$proxy"
cargo build -q -p local-supervisor
cp "$bin" "$tmp/base"
cp "$tmp/proxy.rs" "$proxy"
cargo build -q -p xtask --tests
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="base branch"; else order="branch base"; fi
  for v in $order; do
    rm -f "$bin"  # never write through a hard link
    cp "$tmp/$v" "$bin"
    line=$(MESHTEST_LOCAL_NO_BUILD=1 cargo test -q -p xtask --test it local::eject -- --nocapture 2>&1 | grep '^froze' || true)
    echo "round $round $v: $line (load avg $(cut -d' ' -f1 /proc/loadavg))"
  done
done
