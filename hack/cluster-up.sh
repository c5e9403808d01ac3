#!/usr/bin/env bash
# Starts the local control plane on 127.0.0.1 in the background and prints
# how to use it. State (pid, kubeconfig, CoreDNS address) is kept in
# $KENNEL_CACHE/cluster/; `make cluster-down` stops it.
#   NODES=5 hack/cluster-up.sh     more simulated nodes (default 3)
#   REAL_NODE=1 hack/cluster-up.sh also a real node (kubelet, containerd,
#                                  bridge CNI, kube-proxy; Linux, root, one
#                                  per machine) with the controller and
#                                  peer-finder images (make images) imported
#                                  as kennel.local/<name>:dev, and the
#                                  toolbox, nginx, zookeeper and consul images as
#                                  kennel.local/<name>:1. First run: ~10 min
#                                  more to build the kubelet.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"

state_dir=$KENNEL_CACHE/cluster
state=$state_dir/state.json
mkdir -p "$state_dir"

if [ -f "$state" ]; then
  pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$state")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "a plane is already running (pid $pid); hack/cluster-down.sh stops it"
    kc=$(sed -n 's/.*"kubeconfig": "\(.*\)".*/\1/p' "$state")
    dns=$(sed -n 's/.*"dns": "\(.*\)".*/\1/p' "$state")
    printf 'export KUBECONFIG=%s\n# CoreDNS (cluster.local, UDP+TCP): %s\n' "$kc" "$dns"
    exit 0
  fi
  rm -f "$state"
fi

bin=$(hack/plane-binaries.sh)
log "building the plane supervisor"
go build -o "$state_dir/kennel-plane" ./test/plane/cmd/kennel-plane

real=()
if [ "${REAL_NODE:-0}" = 1 ]; then
  log "real node: kubelet and kube-proxy, images (cached after the first run)"
  hack/ensure-test-deps.sh
  node_bin=$(hack/node-binaries.sh)
  images=$(hack/realnode-images.sh)
  KENNEL_PLATFORMS=linux/amd64 KENNEL_VERSION=dev KENNEL_IMAGES_OUT="$state_dir/images" \
    KENNEL_IMAGES_BIN="$state_dir/images/bin" hack/images.sh controller peer-finder >&2
  real=(--real-node --node-bin "$node_bin" --images "$images"
    --import "kennel.local/controller:dev=$state_dir/images/controller"
    --import "kennel.local/peer-finder:dev=$state_dir/images/peer-finder")
fi

rm -rf "$state_dir/data"
log "starting the plane (log: $state_dir/plane.log)"
# setsid: the plane outlives this shell and ignores its Ctrl-C.
setsid nohup "$state_dir/kennel-plane" --bin "$bin" --dir "$state_dir/data" \
  --state "$state" --nodes "${NODES:-3}" "${real[@]}" >"$state_dir/plane.out" 2>"$state_dir/plane.log" </dev/null &
pid=$!
start=$SECONDS
until [ -f "$state" ]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "the plane failed to start:"
    tail -n 60 "$state_dir/plane.log" >&2
    exit 1
  fi
  if [ $((SECONDS - start)) -gt 360 ]; then
    log "the plane is not ready after 360s; stopping it"
    kill -TERM "$pid" 2>/dev/null || true
    tail -n 60 "$state_dir/plane.log" >&2
    exit 1
  fi
  sleep 0.2
done
log "plane ready in $((SECONDS - start))s (pid $pid, data $state_dir/data, logs $state_dir/data/logs)"
cat "$state_dir/plane.out"
printf '# kubectl: %s/kubectl\n' "$bin"
