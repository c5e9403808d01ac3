#!/usr/bin/env bash
# peer-finder benchmarks: one poll cycle (5 and 500 peers), change-detection
# latency, and idle RSS/CPU of the built binary as a sidecar
# (PEER_FINDER_IDLE, default 20s).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"
log "peer-finder benchmarks"
go test -run '^$' -bench . -benchmem -count="${BENCH_COUNT:-1}" ./pkg/peers/ ./cmd/peer-finder/
