#!/usr/bin/env bash
# Ensures every binary of the local control plane is built and prints the
# directory that holds them:
#   kube-apiserver kube-controller-manager kube-scheduler kubectl  (hack/tools/kube)
#   etcd                                                           (hack/tools/etcd)
#   kwok                                                           (hack/tools/kwok)
#   coredns                                                        (hack/tools/coredns)
# The directory is $KENNEL_CACHE/plane/<key>/bin, where <key> hashes the four
# tools modules, the build flags and the Go version, so a fresh clone only
# builds what is missing.
# Progress goes to stderr, one line per binary; the directory goes to stdout.
#
#   hack/plane-binaries.sh            build what is missing, print the dir
#   hack/plane-binaries.sh --print    print the dir only (exit 1 if incomplete)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Versions stamped into the binaries; they must match the tools modules.
KUBE_VERSION=v1.37.2
KWOK_VERSION=v0.8.0
COREDNS_VERSION=v1.15.0
for pin in "hack/tools/kube k8s.io/kubernetes $KUBE_VERSION" \
           "hack/tools/kwok sigs.k8s.io/kwok $KWOK_VERSION" \
           "hack/tools/coredns github.com/coredns/coredns $COREDNS_VERSION"; do
  set -- $pin
  if ! grep -Eq "^(require )?[[:space:]]*$2 $3\b" "$KENNEL_ROOT/$1/go.mod"; then
    log "$1/go.mod does not require $2 $3; update the versions in $0"
    exit 1
  fi
done

# One line per binary: name|tools module|package|ldflags
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

# The key covers what the binaries are built from: the tools modules, the
# build targets with their flags, and the Go toolchain.
modules="hack/tools/kube hack/tools/etcd hack/tools/kwok hack/tools/coredns"
key=$(
  cd "$KENNEL_ROOT"
  for m in $modules; do cat "$m/go.mod" "$m/go.sum" "$m"/*.go; done
  targets
  go env GOVERSION GOOS GOARCH
)
key=$(printf '%s' "$key" | sha256sum | cut -c1-12)
bin=$KENNEL_CACHE/plane/$key/bin

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
  log "$name: building (the first build of the plane takes 20-30 min on 2 cores; later ones seconds)"
  (
    cd "$KENNEL_ROOT/$module"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg"
  )
  mv "$bin/$name.tmp" "$bin/$name"
  log "$name: built in $((SECONDS - start))s"
done < <(targets)
log "plane binaries ready in $((SECONDS - total_start))s: $bin"
printf '%s\n' "$bin"
