#!/usr/bin/env bash
# Fault-injection rounds against kennel's controller and the StatefulSet
# controller on the local plane (test/chaos, docs/reliability.md).
#
# Environment:
#   ROUNDS=N       rounds per controller (default 20)
#   STS_ROUNDS=N   rounds for the StatefulSet controller (default: ROUNDS)
#   SEED=N         seed of the rounds (default: drawn and printed)
#   KINDS=a,b      kennel,statefulset (default both)
#   PARALLEL=1     run both controllers' planes at once (default 0)
# Output: _output/chaos/<kind>/ (logs, audit log, violations.txt) and
# _output/chaos/report.md. Exits 1 if any invariant was violated.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"

out=$KENNEL_ROOT/_output/chaos
rm -rf "$out"
mkdir -p "$out/bin"
KENNEL_PLANE_BIN=$(hack/plane-binaries.sh)
export KENNEL_PLANE_BIN
log "building the controller and kennel-chaos"
go build -o "$out/bin/controller" ./cmd/controller
go build -o "$out/bin/kennel-chaos" ./test/chaos/cmd/kennel-chaos
args=(--out="$out" --controller="$out/bin/controller" --crd=deploy/crd
      --rounds="${ROUNDS:-20}" --kind="${KINDS:-kennel,statefulset}")
[ -n "${STS_ROUNDS:-}" ] && args+=(--statefulset-rounds="$STS_ROUNDS")
[ -n "${SEED:-}" ] && args+=(--seed="$SEED")
[ "${PARALLEL:-0}" = 1 ] && args+=(--parallel)
"$out/bin/kennel-chaos" "${args[@]}"
