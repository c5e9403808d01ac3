#!/usr/bin/env bash
# Builds the kennel binaries into ./bin with the version baked in.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"
version=${KENNEL_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
mkdir -p bin
for cmd in cmd/*/; do
  name=$(basename "$cmd")
  log "building bin/$name ($version)"
  CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/kennel-dev/kennel/pkg/version.Version=$version" \
    -o "bin/$name" "./$cmd"
done
