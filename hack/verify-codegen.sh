#!/usr/bin/env bash
# Fails if the generated code or CRD is stale (`make verify`): regenerates
# into a temporary copy of the sources it depends on and compares that copy
# with the working tree.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"

# Everything hack/update-codegen.sh reads or writes.
inputs=(go.mod go.sum hack pkg/apis pkg/generated deploy/crd)
generated=(pkg/apis pkg/generated deploy/crd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for p in "${inputs[@]}"; do
  if [ -e "$p" ]; then
    mkdir -p "$tmp/$(dirname "$p")"
    cp -a "$p" "$tmp/$p"
  fi
done

log "regenerating into $tmp"
if ! KENNEL_CACHE=$KENNEL_CACHE "$tmp/hack/update-codegen.sh" >"$tmp/update.log" 2>&1; then
  cat "$tmp/update.log" >&2
  echo "verify-codegen: hack/update-codegen.sh failed (output above)" >&2
  exit 1
fi

# Every generated path that differs, is missing, or should not exist.
stale=$(
  { (cd "$KENNEL_ROOT" && find "${generated[@]}" -type f 2>/dev/null)
    (cd "$tmp" && find "${generated[@]}" -type f 2>/dev/null); } | sort -u |
  while read -r f; do
    if [ ! -e "$tmp/$f" ]; then echo "$f (not generated any more: remove it)"
    elif [ ! -e "$KENNEL_ROOT/$f" ]; then echo "$f (missing)"
    elif ! cmp -s "$KENNEL_ROOT/$f" "$tmp/$f"; then echo "$f (out of date)"
    fi
  done
)
if [ -n "$stale" ]; then
  {
    echo "verify-codegen: generated files are stale; run 'make generate' and commit the result:"
    sed 's/^/  /' <<<"$stale"
    echo "differences (working tree -> regenerated):"
    for d in "${generated[@]}"; do
      diff -ruN "$KENNEL_ROOT/$d" "$tmp/$d" || true
    done | head -100
  } >&2
  exit 1
fi
log "generated code and CRD are up to date"
