#!/usr/bin/env bash
# `make demo`: a local control plane on 127.0.0.1, kennel's PetSet controller
# running against it, a PetSet of 3 pets from hack/demo/manifests, and
# kennel's peer-finder run for each pet against the plane's CoreDNS. Shows the
# pets starting in order and the peers each saw.
# DEMO_SET=statefulset uses a built-in apps/v1 StatefulSet instead of the
# PetSet controller. REAL_NODE=1 (make demo REAL_NODE=1) shows the ZooKeeper
# example forming a real ensemble on the plane's real node instead
# (hack/demo-realnode.sh).
# On a terminal the plane keeps running afterwards until Ctrl-C; otherwise
# (or with DEMO_KEEP_RUNNING=0) it stops at the end. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"
# REAL_NODE=1: the ZooKeeper example on the real node instead.
if [ "${REAL_NODE:-0}" = 1 ]; then exec hack/demo-realnode.sh; fi

log "control plane binaries (first build: 20-30 min on 2 cores; cached afterwards)"
bin=$(hack/plane-binaries.sh)

work=$KENNEL_CACHE/demo
mkdir -p "$work"
set_kind=${DEMO_SET:-petset}
log "building peer-finder and the demo"
go build -o "$work/peer-finder" ./cmd/peer-finder
go build -o "$work/demo" ./hack/demo

args=(--bin "$bin" --peer-finder "$work/peer-finder" --on-start hack/demo/on-start.sh)
case $set_kind in
  petset)
    log "building the PetSet controller"
    go build -o "$work/controller" ./cmd/controller
    args+=(--manifests hack/demo/manifests/service.yaml,hack/demo/manifests/petset.yaml
           --crds deploy/crd/kennel.dev_petsets.yaml
           --controller "$work/controller"
           --controller-arg=--leader-elect=false
           --controller-arg=--metrics-bind-address=0
           --controller-arg=--health-probe-bind-address=0) ;;
  statefulset)
    args+=(--manifests hack/demo/manifests/service.yaml,hack/demo/manifests/statefulset.yaml) ;;
  *) log "DEMO_SET must be petset or statefulset"; exit 2 ;;
esac

keep=${DEMO_KEEP_RUNNING:-}
if [ -z "$keep" ]; then
  if [ -t 1 ] && [ -t 0 ]; then keep=1; else keep=0; fi
fi
[ "$keep" = 1 ] && args+=(--keep-running)

exec "$work/demo" "${args[@]}"
