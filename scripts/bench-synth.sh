#!/usr/bin/env bash
# Synth wall time and peak memory per stack, as a whole process (BENCHMARKS.md "synth").
# Needs hyperfine (apt-get install hyperfine) and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
cargo build --release --quiet -p xtask
bin=target/release/xtask
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '| stack | median wall time | mean | min | max | peak RSS |\n|---|---|---|---|---|---|\n'
for app in serviceconnect appmesh bluegreen; do
  hyperfine --warmup 5 --runs 100 --export-json "$out/$app.json" -N "$bin synth $app --out $out" >/dev/null 2>&1
  read -r median mean min max < <(python3 -c "import json,sys; r=json.load(open('$out/$app.json'))['results'][0]; print(f\"{r['median']*1000:.2f} {r['mean']*1000:.2f} {r['min']*1000:.2f} {r['max']*1000:.2f}\")")
  rss=$( { /usr/bin/time -f '%M' "$bin" synth "$app" --out "$out" >/dev/null; } 2>&1 | tail -1)
  printf '| %s | %s ms | %s ms | %s ms | %s ms | %s MiB |\n' "$app" "$median" "$mean" "$min" "$max" "$(python3 -c "print(f'{$rss/1024:.1f}')")"
done
