#!/usr/bin/env bash
# Stops the plane started by hack/cluster-up.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

state_dir=$KENNEL_CACHE/cluster
state=$state_dir/state.json
if [ ! -f "$state" ]; then
  log "no plane running (no $state)"
  exit 0
fi
pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$state")
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
  log "the plane (pid ${pid:-?}) is not running; removing stale state"
  rm -f "$state"
  exit 0
fi
log "stopping the plane (pid $pid)"
kill -TERM "$pid"
for _ in $(seq 1 150); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if kill -0 "$pid" 2>/dev/null; then
  log "still running after 30s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$state"
log "stopped"
