#!/usr/bin/env bash
# Stops the processes deploy/local/up.sh started: SIGTERM (they drain and
# stop), then SIGKILL after 15 s for any that did not.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run="${FENGQIAO_RUN_DIR:-$here/run}"
pids=()
for f in "$run"/*.pid; do
  [ -e "$f" ] || continue
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; pids+=("$pid"); fi
  rm -f "$f"
done
for _ in $(seq 1 150); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
echo "stopped ${#pids[@]} process(es)"
