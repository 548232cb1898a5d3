#!/usr/bin/env bash
# scripts/bench-hung-task.sh: how long after a new task stops answering a local rollout rolls
# back. Deploys the `rollout` app locally, starts `deploy --version 2 --minute 1s`, freezes
# web's version-2 task with SIGSTOP as soon as it runs, and times until the deploy command
# returns. Loopback only; the stack is destroyed at the end.
#
# Usage (from the workspace root): bash scripts/bench-hung-task.sh [ROUNDS]
set -euo pipefail
ROUNDS=${1:-3}
cargo build -q -p xtask -p demo-app -p local-supervisor
X=target/debug/xtask
STACK=bench-hung
export MESHTEST_LOCAL_GATEWAY_PORT=0 MESHTEST_LOCAL_NO_BUILD=1
WORK=$(mktemp -d)
trap '$X destroy rollout --local --stack-name $STACK >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

# The pid of web's version-2 task, once it runs.
new_task() {
    $X status rollout --local --stack-name "$STACK" --json 2>/dev/null | python3 -c '
import json, sys
status = json.load(sys.stdin)
for svc in status["services"]:
    for task in svc["tasks"]:
        if svc["name"] == "web" and task["version"] == "2":
            print(task["pid"])
            sys.exit()
' 2>/dev/null || true
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
    $X deploy rollout --local --stack-name "$STACK" >/dev/null 2>&1
    ( $X deploy rollout --local --stack-name "$STACK" --version 2 --minute 1s >"$WORK/deploy.log" 2>&1 || true
      date +%s.%N >"$WORK/end" ) &
    pid=""
    for _ in $(seq 400); do
        pid=$(new_task)
        [ -n "$pid" ] && break
        sleep 0.05
    done
    [ -n "$pid" ] || { echo "round $round: web's version-2 task never ran"; exit 1; }
    kill -STOP "$pid"
    start=$(date +%s.%N)
    wait
    kill -CONT "$pid" 2>/dev/null || true
    outcome=$(grep -o "ROLLBACK_SUCCESSFUL\|rollout to 2 finished" "$WORK/deploy.log" | tail -1)
    python3 -c "import sys; print('round %s: %s %.2f s after SIGSTOP' % (sys.argv[1], sys.argv[2], float(sys.argv[4]) - float(sys.argv[3])))" \
        "$round" "${outcome:-no outcome}" "$start" "$(cat "$WORK/end")"
    $X destroy rollout --local --stack-name "$STACK" >/dev/null 2>&1
done
