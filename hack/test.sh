#!/usr/bin/env bash
# The test command. `make test` runs everything:
#   verify  generated code and CRD are up to date
#   lint    gofmt, go vet, staticcheck
#   unit    go test -race -short ./...
#   e2e     go test -race ./test/e2e/... against the local control plane
# Pass one stage name to run just that stage.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"

stage_verify() {
  if [ -x hack/verify-codegen.sh ]; then hack/verify-codegen.sh; fi
}
stage_lint() { hack/lint.sh; }
stage_unit() {
  log "unit tests (-race -short)"
  go test -race -short -count=1 ./...
  # Tools modules with tests of their own (each is a separate Go module).
  for mod in $(find hack/tools -name go.mod -printf '%h\n' | sort); do
    if [ -n "$(find "$mod" -name '*_test.go' -print -quit)" ]; then
      log "unit tests of $mod"
      (cd "$mod" && go test -race -short -count=1 ./...)
    fi
  done
}
stage_e2e() {
  if [ ! -d test/e2e ]; then return 0; fi
  # The plane's binaries are cached in $KENNEL_CACHE/plane (first build: ~20-30 min).
  KENNEL_PLANE_BIN=$(hack/plane-binaries.sh)
  # The real node's kubelet and kube-proxy (first build ~10 min) and its
  # application images (test/e2e/realnode, TestRealNode* in test/plane).
  KENNEL_NODE_BIN=$(hack/node-binaries.sh)
  KENNEL_REALNODE_IMAGES=$(hack/realnode-images.sh)
  export KENNEL_PLANE_BIN KENNEL_NODE_BIN KENNEL_REALNODE_IMAGES KENNEL_E2E_REQUIRED=1
  log "e2e tests against the local control plane"
  # The real-node lane runs after the others: test/plane's host-clean test
  # compares the host before and after its own real node, which another
  # package's real node running at the same time would spoil.
  go test -race -count=1 -timeout 45m ./test/plane/... $(go list ./test/e2e/... | grep -v /test/e2e/realnode) ./test/chaos/...
  log "e2e tests on the real node"
  go test -race -count=1 -timeout 30m ./test/e2e/realnode/...
}

stages=${1:-"verify lint unit e2e"}
if [ -z "${1:-}" ]; then
  # The full run is what CI runs: install what the tests need and let no test
  # skip for want of it.
  hack/ensure-test-deps.sh
  export KENNEL_E2E_REQUIRED=1
fi
started=$SECONDS
for s in $stages; do
  t=$SECONDS
  "stage_$s"
  log "stage $s passed in $((SECONDS - t))s"
done
log "all stages passed ($stages) in $((SECONDS - started))s"
