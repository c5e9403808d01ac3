#!/usr/bin/env bash
# `make demo REAL_NODE=1`: the ZooKeeper example forming a real ensemble
# through peer-finder on the plane's real node (kubelet, containerd; see
# docs/real-node.md). Starts the plane with the real node (hack/cluster-up.sh
# REAL_NODE=1), runs kennel's controller against it, applies
# examples/zookeeper changed only by image references and the one-node
# component its README shows (examples/components/one-node), and prints
# what each pet became: its myid, its mode (zkServer.sh status), the
# ensemble (zkCli.sh config) and a znode written through zk-0 read through
# zk-2.
# Linux and root only, one real node per machine. First run: the kubelet
# (~10 min), the application images and the consul binary (~8 min) are
# built and cached; later runs take about 2 minutes on 2 cores.
# On a terminal the plane keeps running afterwards until Ctrl-C; otherwise
# (or with DEMO_KEEP_RUNNING=0) it stops at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"

state=$KENNEL_CACHE/cluster/state.json
if [ -f "$state" ] && kill -0 "$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$state")" 2>/dev/null; then
  log "a plane from make cluster-up is running; stop it first (make cluster-down)"
  exit 1
fi
work=$KENNEL_CACHE/demo-realnode
mkdir -p "$work"
started=$SECONDS

ctl_pid=
cleanup() {
  [ -n "$ctl_pid" ] && kill -TERM "$ctl_pid" 2>/dev/null && wait "$ctl_pid" 2>/dev/null
  hack/cluster-down.sh
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "the plane with the real node (make cluster-up REAL_NODE=1)"
env_out=$(REAL_NODE=1 hack/cluster-up.sh)
export KUBECONFIG
KUBECONFIG=$(printf '%s\n' "$env_out" | sed -n 's/^export KUBECONFIG=//p')
kubectl="$(hack/plane-binaries.sh --print)/kubectl"

log "kennel's controller (a local process; log: $work/controller.log)"
go build -o "$work/controller" ./cmd/controller
"$kubectl" apply --server-side -f deploy/crd/kennel.dev_petsets.yaml >/dev/null
"$kubectl" wait --for=condition=Established crd/petsets.kennel.dev >/dev/null
"$work/controller" --leader-elect=false --metrics-bind-address=0 --health-probe-bind-address=0 \
  >"$work/controller.log" 2>&1 &
ctl_pid=$!

overlay=$work/zookeeper
rm -rf "$overlay" && mkdir -p "$overlay"
cat >"$overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $(realpath --relative-to="$overlay" examples/zookeeper)
components:
- $(realpath --relative-to="$overlay" examples/components/one-node)
images:
- name: zookeeper
  newName: kennel.local/zookeeper
  newTag: "1"
- name: ghcr.io/kennel-dev/peer-finder
  newName: kennel.local/peer-finder
  newTag: dev
EOF
log "cordoning the simulated nodes: every pet runs on the real node"
"$kubectl" cordon -l 'kennel.dev/real-node!=true' >/dev/null
log "kubectl apply --server-side -k examples/zookeeper (images: kennel.local/zookeeper:1, kennel.local/peer-finder:dev)"
"$kubectl" apply --server-side -k "$overlay"
t0=$SECONDS
until [ "$("$kubectl" get pods -l app.kubernetes.io/name=zookeeper \
  -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)" = 3 ]; do
  if [ $((SECONDS - t0)) -gt 300 ]; then
    log "the pets are not Ready after 300s:"
    "$kubectl" get pods -o wide >&2
    exit 1
  fi
  sleep 1
done
log "3 pets Ready in $((SECONDS - t0))s"
"$kubectl" get pods -o wide
echo
for i in 0 1 2; do
  myid=$("$kubectl" exec "zk-$i" -c zookeeper -- cat /data/myid)
  mode=$("$kubectl" exec "zk-$i" -c zookeeper -- zkServer.sh status 2>&1 | sed -n 's/^Mode: //p')
  printf 'zk-%s: myid %s, %s\n' "$i" "$myid" "${mode:-no mode yet}"
done
echo
echo "zk-0's sidecar (peer-finder --on-change):"
"$kubectl" logs zk-0 -c reconfig | grep 'on-change:' || true
echo
echo "kubectl exec zk-0 -c zookeeper -- zkCli.sh config:"
"$kubectl" exec zk-0 -c zookeeper -- zkCli.sh -server localhost:2181 config 2>/dev/null | grep '^server\.'
"$kubectl" exec zk-0 -c zookeeper -- zkCli.sh -server localhost:2181 create /kennel-demo written-through-zk-0 >/dev/null 2>&1
got=$("$kubectl" exec zk-2 -c zookeeper -- zkCli.sh -server localhost:2181 get /kennel-demo 2>/dev/null | grep '^written' || true)
printf '\nznode /kennel-demo written through zk-0, read through zk-2: %s\n' "${got:-(not found)}"
[ -n "$got" ] || { log "zk-2 does not serve the znode written through zk-0"; exit 1; }
log "demo done in $((SECONDS - started))s"

keep=${DEMO_KEEP_RUNNING:-}
if [ -z "$keep" ]; then
  if [ -t 1 ] && [ -t 0 ]; then keep=1; else keep=0; fi
fi
if [ "$keep" = 1 ]; then
  printf '\n%s\n# kubectl: %s\n' "$env_out" "$kubectl"
  log "the plane keeps running; Ctrl-C stops it"
  wait "$ctl_pid"
fi
