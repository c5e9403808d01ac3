#!/usr/bin/env bash
# Regenerates everything derived from pkg/apis (`make generate`):
#   pkg/apis/kennel/v1/zz_generated.deepcopy.go        deepcopy-gen
#   pkg/generated/clientset/versioned (+ fake)          client-gen
#   pkg/generated/listers/kennel/v1                     lister-gen
#   pkg/generated/informers/externalversions            informer-gen
#   deploy/crd/kennel.dev_petsets.yaml                  controller-gen
# The generators are pinned in hack/tools/codegen and built once into the cache.
# The module is not in GOPATH, so every generator gets explicit output
# directories and import paths.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"

MODULE=github.com/kennel-dev/kennel
APIS_PKG=$MODULE/pkg/apis
GEN_DIR=pkg/generated
GEN_PKG=$MODULE/$GEN_DIR
BOILERPLATE=hack/boilerplate.go.txt
# Group/versions under pkg/apis, relative to APIS_PKG.
GROUP_VERSIONS=(kennel/v1)

tools=hack/tools/codegen
deepcopy_gen=$(build_tool $tools k8s.io/code-generator/cmd/deepcopy-gen deepcopy-gen)
client_gen=$(build_tool $tools k8s.io/code-generator/cmd/client-gen client-gen)
lister_gen=$(build_tool $tools k8s.io/code-generator/cmd/lister-gen lister-gen)
informer_gen=$(build_tool $tools k8s.io/code-generator/cmd/informer-gen informer-gen)
controller_gen=$(build_tool $tools sigs.k8s.io/controller-tools/cmd/controller-gen controller-gen)

input_pkgs=()
for gv in "${GROUP_VERSIONS[@]}"; do input_pkgs+=("$APIS_PKG/$gv"); done

log "deepcopy-gen"
for gv in "${GROUP_VERSIONS[@]}"; do rm -f "pkg/apis/$gv/zz_generated.deepcopy.go"; done
"$deepcopy_gen" --go-header-file "$BOILERPLATE" \
  --output-file zz_generated.deepcopy.go "${input_pkgs[@]}"

# pkg/generated holds nothing but generator output: start from scratch so that
# files of removed types do not linger.
rm -rf "$GEN_DIR"

log "client-gen"
client_inputs=()
for gv in "${GROUP_VERSIONS[@]}"; do client_inputs+=(--input "$gv"); done
"$client_gen" --go-header-file "$BOILERPLATE" \
  --clientset-name versioned \
  --input-base "$APIS_PKG" "${client_inputs[@]}" \
  --output-dir "$GEN_DIR/clientset" --output-pkg "$GEN_PKG/clientset"

log "lister-gen"
"$lister_gen" --go-header-file "$BOILERPLATE" \
  --output-dir "$GEN_DIR/listers" --output-pkg "$GEN_PKG/listers" \
  "${input_pkgs[@]}"

log "informer-gen"
"$informer_gen" --go-header-file "$BOILERPLATE" \
  --versioned-clientset-package "$GEN_PKG/clientset/versioned" \
  --listers-package "$GEN_PKG/listers" \
  --output-dir "$GEN_DIR/informers" --output-pkg "$GEN_PKG/informers" \
  "${input_pkgs[@]}"

log "controller-gen (CRD)"
# Descriptions are kept but trimmed: the embedded PodTemplateSpec and
# PersistentVolumeClaim schemas would otherwise carry every core/v1 doc comment.
"$controller_gen" crd:maxDescLen=0 paths=./pkg/apis/... output:crd:dir=deploy/crd
