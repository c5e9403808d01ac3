#!/usr/bin/env bash
# Ensures every binary of the local control plane is built and prints the
# directory that holds them:
#   kube-apiserver kube-controller-manager kube-scheduler kubectl  (hack/tools/kube)
#   etcd                                                           (hack/tools/etcd)
#   kwok                                                           (hack/tools/kwok)
#   coredns                                                        (hack/tools/coredns)
# The directory is $KENNEL_CACHE/plane/<key>/bin, where <key> hashes the four
# tools modules and this script, so a fresh clone only builds what is missing.
# Progress goes to stderr, one line per binary; the directory goes to stdout.
#
#   hack/plane-binaries.sh            build what is missing, print the dir
#   hack/plane-binaries.sh --print    print the dir only (exit 1 if incomplete)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
COREDNS_VERSION=v1.15.0

modules="hack/tools/kube hack/tools/etcd hack/tools/kwok hack/tools/coredns"
key=$(
  cd "$KENNEL_ROOT"
  for m in $modules; do cat "$m/go.mod" "$m/go.sum" "$m"/*.go; done
  cat hack/plane-binaries.sh
  go env GOVERSION GOOS GOARCH
) 
key=$(printf '%s' "$key" | sha256sum | cut -c1-12)
bin=$KENNEL_CACHE/plane/$key/bin

# name module package cgo ldflags
targets() {
  local kv=${KUBE_VERSION#v} major minor
  major=${kv%%.*}; minor=${kv#*.}; minor=${minor%%.*}
  local kx="-s -w"
  kx+=" -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  kx+=" -X k8s.io/component-base/version.gitMajor=$major"
  kx+=" -X k8s.io/component-base/version.gitMinor=$minor"
  kx+=" -X k8s.io/component-base/version.gitTreeState=clean"
  kx+=" -X k8s.io/component-base/version.gitCommit="
  kx+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
  kx+=" -X k8s.io/client-go/pkg/version.gitMajor=$major"
  kx+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  cat <<EOF
kube-apiserver|hack/tools/kube|k8s.io/kubernetes/cmd/kube-apiserver|$kx
kube-controller-manager|hack/tools/kube|k8s.io/kubernetes/cmd/kube-controller-manager|$kx
kube-scheduler|hack/tools/kube|k8s.io/kubernetes/cmd/kube-scheduler|$kx
kubectl|hack/tools/kube|k8s.io/kubernetes/cmd/kubectl|$kx
etcd|hack/tools/etcd|go.etcd.io/etcd/server/v3|-s -w
kwok|hack/tools/kwok|sigs.k8s.io/kwok/cmd/kwok|-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}
coredns|hack/tools/coredns|.|-s -w -X github.com/coredns/coredns/coremain.gitTag=$COREDNS_VERSION -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION
EOF
}

complete() {
  local name
  while IFS='|' read -r name _; do
    [ -x "$bin/$name" ] || return 1
  done < <(targets)
}

if [ "${1:-}" = "--print" ]; then
  complete || { log "plane binaries missing in $bin; run hack/plane-binaries.sh"; exit 1; }
  printf '%s\n' "$bin"
  exit 0
fi

mkdir -p "$bin"
# One builder at a time per key: a second caller waits, then finds them cached.
exec 9>"$KENNEL_CACHE/plane/$key/.lock"
flock 9

total_start=$SECONDS
while IFS='|' read -r name module pkg ldflags; do
  if [ -x "$bin/$name" ]; then
    log "$name: cached"
    continue
  fi
  start=$SECONDS
  log "$name: building (first build of the plane takes 15-25 min on 2 cores; later ones seconds)"
  (
    cd "$KENNEL_ROOT/$module"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg"
  )
  mv "$bin/$name.tmp" "$bin/$name"
  log "$name: built in $((SECONDS - start))s"
done < <(targets)
log "plane binaries ready in $((SECONDS - total_start))s: $bin"
printf '%s\n' "$bin"
