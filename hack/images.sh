#!/usr/bin/env bash
# make images: builds the container images of images/*/ without a container
# engine. For each image and platform it cross-compiles ./cmd/<binary>
# (CGO_ENABLED=0, -trimpath, version baked in) and assembles an OCI image
# layout with hack/tools/images: one multi-platform image index per image in
#   _output/images/<name>/        (tag: the version)
#
#   hack/images.sh                 every image
#   hack/images.sh peer-finder     only the named ones
#
# Environment:
#   KENNEL_VERSION      version to bake in and tag (default: git describe)
#   KENNEL_PLATFORMS    platforms (default: "linux/amd64 linux/arm64")
#   KENNEL_IMAGES_OUT   where the layouts go (default: _output/images)
#   KENNEL_IMAGES_BIN   where the binaries go (default: _output/bin)
#   KENNEL_REGISTRY     if set, also push each image as $KENNEL_REGISTRY/<name>:<version>
#                       (credentials from the docker config, as docker login wrote them)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"

version=${KENNEL_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
revision=$(git rev-parse HEAD 2>/dev/null || true)
created=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
platforms=${KENNEL_PLATFORMS:-linux/amd64 linux/arm64}
out=${KENNEL_IMAGES_OUT:-$KENNEL_ROOT/_output/images}
bindir=${KENNEL_IMAGES_BIN:-$KENNEL_ROOT/_output/bin}
registry=${KENNEL_REGISTRY:-}

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for d in images/*/image.conf; do names+=("$(basename "$(dirname "$d")")"); done
fi

tool=$(build_tool hack/tools/images . images)

for name in "${names[@]}"; do
  conf=images/$name/image.conf
  [ -f "$conf" ] || { log "no image named $name (no $conf)"; exit 1; }
  (
    IMAGE_BINARY="" IMAGE_PATH="" IMAGE_DESCRIPTION=""
    # shellcheck source=/dev/null
    source "$conf"
    [ -n "$IMAGE_BINARY" ] || { log "$conf sets no IMAGE_BINARY"; exit 1; }
    args=(--name "$name" --path "${IMAGE_PATH:-/usr/local/bin/$IMAGE_BINARY}"
      --version "$version" --revision "$revision" --created "$created"
      --description "$IMAGE_DESCRIPTION" --out "$out/$name")
    for p in $platforms; do
      os=${p%%/*} arch=${p#*/}
      bin=$bindir/${os}_${arch}/$IMAGE_BINARY
      log "building $bin ($version)"
      CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath \
        -ldflags "-s -w -X github.com/kennel-dev/kennel/pkg/version.Version=$version" \
        -o "$bin" "./cmd/$IMAGE_BINARY"
      args+=(--binary "$p=$bin")
    done
    if [ -n "$registry" ]; then args+=(--push "$registry/$name:$version"); fi
    "$tool" "${args[@]}"
  )
done
