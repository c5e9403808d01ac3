#!/usr/bin/env bash
# gofmt, go vet and staticcheck (pinned in hack/tools/lint) over the product module.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"
log "gofmt"
unformatted=$(gofmt -l $(git ls-files --cached --others --exclude-standard '*.go' | grep -v '^hack/tools/'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change these files:" >&2; echo "$unformatted" >&2; exit 1
fi
log "go vet"
go vet ./...
staticcheck=$(build_tool hack/tools/lint honnef.co/go/tools/cmd/staticcheck staticcheck)
log "staticcheck"
"$staticcheck" ./...
