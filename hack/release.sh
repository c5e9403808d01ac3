#!/usr/bin/env bash
# make release: an archive of the kubectl-petset plugin per platform and the
# krew manifest that points at them, in _output/release/:
#   kubectl-petset_<version>_<os>_<arch>.tar.gz   kubectl-petset[.exe],
#       kubectl_complete-petset (shell completion for `kubectl petset`, kubectl >= 1.26)
#   SHA256SUMS
#   petset.yaml     plugins/petset.yaml with version, URLs and checksums filled in
#
# Environment:
#   KENNEL_VERSION      a semantic version vX.Y.Z[-pre] (default: git describe if it
#                       is one, else v0.0.0-<commit>)
#   KENNEL_PLATFORMS    default: linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
#   KENNEL_RELEASE_URL  where the archives will be downloaded from
#                       (default: https://github.com/kennel-dev/kennel/releases/download/<version>)
#   KENNEL_RELEASE_OUT  default: _output/release
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"

semver='^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'
version=${KENNEL_VERSION:-$(git describe --tags --always 2>/dev/null || true)}
if ! [[ $version =~ $semver ]]; then
  version=v0.0.0-$(git rev-parse --short HEAD 2>/dev/null || echo dev)
fi
[[ $version =~ $semver ]] || { log "KENNEL_VERSION=$version is not a semantic version vX.Y.Z (krew needs one)"; exit 1; }
platforms=${KENNEL_PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64}
url=${KENNEL_RELEASE_URL:-https://github.com/kennel-dev/kennel/releases/download/$version}
out=${KENNEL_RELEASE_OUT:-$KENNEL_ROOT/_output/release}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

rm -rf "$out" && mkdir -p "$out"
manifest=$(grep -v '^#' plugins/petset.yaml)
manifest=${manifest//\{\{VERSION\}\}/$version}
manifest=${manifest//\{\{URL\}\}/$url}
for p in $platforms; do
  os=${p%%/*} arch=${p#*/}
  exe=kubectl-petset; [ "$os" = windows ] && exe=kubectl-petset.exe
  stage=$(mktemp -d)
  log "building kubectl-petset for $os/$arch ($version)"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath \
    -ldflags "-s -w -X github.com/kennel-dev/kennel/pkg/version.Version=$version" \
    -o "$stage/$exe" ./cmd/kubectl-petset
  printf '#!/bin/sh\n# Shell completion of `kubectl petset` (kubectl >= 1.26 runs this).\nexec kubectl-petset __complete "$@"\n' >"$stage/kubectl_complete-petset"
  chmod 0755 "$stage/kubectl_complete-petset"
  archive=kubectl-petset_${version}_${os}_${arch}.tar.gz
  tar -C "$stage" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    -cf - "$exe" kubectl_complete-petset | gzip -n >"$out/$archive"
  rm -rf "$stage"
  sum=$(sha256sum "$out/$archive" | cut -d' ' -f1)
  printf '%s  %s\n' "$sum" "$archive" >>"$out/SHA256SUMS"
  manifest=${manifest//\{\{SHA256_${os}_${arch}\}\}/$sum}
done
# A platform the manifest lists but that was not built is an error.
if grep -nE '\{\{[A-Za-z0-9_]+\}\}' <<<"$manifest" >&2; then
  log "plugins/petset.yaml has fields no archive filled in (KENNEL_PLATFORMS=$platforms)"; exit 1
fi
printf '%s\n' "$manifest" >"$out/petset.yaml"
(cd "$out" && sha256sum --quiet -c SHA256SUMS)
log "release $version in $out: $(ls "$out" | tr '\n' ' ')"
