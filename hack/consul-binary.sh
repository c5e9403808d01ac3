#!/usr/bin/env bash
# Ensures the consul binary of the real node's consul image is built and
# prints its path: Consul v1.16.3 (MPL-2.0; 1.16.4 and later are under the
# BUSL) from hack/tools/consul, a module of its own with a main that
# registers the commands the examples run (agent, members, join, leave,
# info, kv, operator raft, reload, validate, version). See
# hack/tools/consul/go.mod for the two Consul modules it replaces.
# Cached in $KENNEL_CACHE/consul/<key>/consul, where <key> hashes the module,
# the build flags and the Go version. The first build takes about 8 min on
# 2 cores (it is run with nice); later ones are instant.
#
#   hack/consul-binary.sh            build it if missing, print its path
#   hack/consul-binary.sh --print    print the path only (exit 1 if missing)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CONSUL_VERSION=v1.16.3
mod=hack/tools/consul
if ! grep -Eq "^(require )?[[:space:]]*github.com/hashicorp/consul $CONSUL_VERSION\b" "$KENNEL_ROOT/$mod/go.mod"; then
  log "$mod/go.mod does not require github.com/hashicorp/consul $CONSUL_VERSION; update $0"
  exit 1
fi
ldflags="-s -w"
key=$(
  cd "$KENNEL_ROOT/$mod"
  find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | xargs cat
  printf '%s\n' "$ldflags"
  go env GOVERSION GOOS GOARCH
)
key=$(printf '%s' "$key" | sha256sum | cut -c1-12)
out=$KENNEL_CACHE/consul/$key/consul

if [ "${1:-}" = "--print" ]; then
  [ -x "$out" ] || { log "consul missing: $out; run hack/consul-binary.sh"; exit 1; }
  printf '%s\n' "$out"
  exit 0
fi

mkdir -p "$(dirname "$out")"
exec 9>"$(dirname "$out")/.lock"
flock 9
if [ ! -x "$out" ]; then
  start=$SECONDS
  log "consul: building $CONSUL_VERSION (the first build takes about 8 min on 2 cores; later ones seconds)"
  (
    cd "$KENNEL_ROOT/$mod"
    CGO_ENABLED=0 nice go build -trimpath -ldflags "$ldflags" -o "$out.tmp" .
  )
  mv "$out.tmp" "$out"
  log "consul: built in $((SECONDS - start))s"
fi
printf '%s\n' "$out"
