#!/usr/bin/env bash
# A/B of dependency debug info on the local first run: a clean build of what the quick start
# compiles, at BEFORE (default 108484c, dependencies with debug info) and at HEAD (without), in
# two fresh clones of this repository, interleaved round by round on one machine.
# Usage: scripts/bench-first-run-debuginfo.sh [rounds] [before-rev]
set -euo pipefail

rounds=${1:-2}
before=${2:-108484c}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone -q "$repo" "$work/before"
git -C "$work/before" checkout -q "$before"
git clone -q "$repo" "$work/after"

printf 'round rev wall_s user_s sys_s load target\n'
for round in $(seq "$rounds"); do
    for rev in before after; do
        cd "$work/$rev"
        rm -rf target
        load=$(cut -d' ' -f1 /proc/loadavg)
        times=$( { /usr/bin/time -f '%e %U %S' cargo build -q -p xtask -p demo-app -p local-runtime; } 2>&1 | tail -n 1)
        printf '%s %s %s %s %s\n' "$round" "$rev" "$times" "$load" "$(du -sh target | cut -f1)"
    done
done
