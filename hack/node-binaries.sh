#!/usr/bin/env bash
# Ensures the binaries of the plane's real node are built and prints the
# directory that holds them:
#   kubelet kube-proxy      (hack/tools/kube/node)
# hack/tools/kube/node is a module of its own with the same Kubernetes
# release and replacements as hack/tools/kube: the kubelet needs modules the
# control plane does not (cri-streaming, nftables, ...), and a separate
# module keeps hack/plane-binaries.sh's key, and its cached build, as is.
# The directory is $KENNEL_CACHE/node/<key>/bin, where <key> hashes that
# module, the build flags and the Go version.
# The first build takes about 10 min on 2 cores (less once the plane's
# binaries have filled the Go build cache); later ones are instant.
#
#   hack/node-binaries.sh            build what is missing, print the dir
#   hack/node-binaries.sh --print    print the dir only (exit 1 if incomplete)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KUBE_VERSION=v1.37.2
mod=hack/tools/kube/node
if ! grep -Eq "^(require )?[[:space:]]*k8s.io/kubernetes $KUBE_VERSION\b" "$KENNEL_ROOT/$mod/go.mod"; then
  log "$mod/go.mod does not require k8s.io/kubernetes $KUBE_VERSION; update $0"
  exit 1
fi

# One line per binary: name|package|ldflags
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
  cat <<EOT
kubelet|k8s.io/kubernetes/cmd/kubelet|$kx
kube-proxy|k8s.io/kubernetes/cmd/kube-proxy|$kx
EOT
}

key=$(
  cd "$KENNEL_ROOT/$mod"
  cat go.mod go.sum ./*.go
  targets
  go env GOVERSION GOOS GOARCH
)
key=$(printf '%s' "$key" | sha256sum | cut -c1-12)
bin=$KENNEL_CACHE/node/$key/bin

complete() {
  local name
  while IFS='|' read -r name _; do
    [ -x "$bin/$name" ] || return 1
  done < <(targets)
}

if [ "${1:-}" = "--print" ]; then
  complete || { log "real-node binaries missing in $bin; run hack/node-binaries.sh"; exit 1; }
  printf '%s\n' "$bin"
  exit 0
fi

mkdir -p "$bin"
exec 9>"$KENNEL_CACHE/node/$key/.lock"
flock 9

total_start=$SECONDS
while IFS='|' read -r name pkg ldflags; do
  if [ -x "$bin/$name" ]; then
    log "$name: cached"
    continue
  fi
  start=$SECONDS
  log "$name: building (the first build takes about 10 min on 2 cores; later ones seconds)"
  (
    cd "$KENNEL_ROOT/$mod"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg"
  )
  mv "$bin/$name.tmp" "$bin/$name"
  log "$name: built in $((SECONDS - start))s"
done < <(targets)
log "real-node binaries ready in $((SECONDS - total_start))s: $bin"
printf '%s\n' "$bin"
